"""The path every POST /v1 request takes: idempotency key, replay, faults, then one transaction."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import TypeVar

import orjson
from fastapi import Request, Response

from psp_simulator.errors import JSON, ApiError, error_body, json_response
from psp_simulator.faults import Fault, FaultInjector
from psp_simulator.models import Outcome
from psp_simulator.store import Store, StoredOperation, Transaction

CommandT = TypeVar("CommandT")

MAX_KEY_LENGTH = 255
_REPLAYED = {"Idempotent-Replayed": "true"}


def fingerprint(path: str, payload: object) -> str:
    canonical = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(path.encode() + b"\n" + canonical).hexdigest()


class OperationRunner:
    def __init__(self, store: Store, faults: FaultInjector) -> None:
        self._store = store
        self._faults = faults

    async def run(
        self,
        request: Request,
        prepare: Callable[[object], CommandT],
        apply: Callable[[Transaction, CommandT], Outcome],
    ) -> Response:
        """Execute a mutating request at most once per Idempotency-Key.

        `prepare` validates the body and raises ApiError for bad input, which is never stored;
        `apply` runs inside the transaction that also stores its response.
        """
        key = _idempotency_key(request)
        path: str = request.scope["path"]
        payload = decode_body(await request.body())
        request_fingerprint = fingerprint(path, payload)

        stored = self._store.find_operation(key)
        if stored is not None:
            # Replays are never faulted: they are how callers recover from the faults below.
            return _replay(stored, request_fingerprint)
        command = prepare(payload)

        plan = self._faults.plan(path)
        if plan.latency_seconds:
            await asyncio.sleep(plan.latency_seconds)
        if plan.fault is Fault.ERROR:
            return json_response(
                503, error_body(503, "service_unavailable", "Injected fault: try again later.")
            )
        if plan.fault is Fault.TIMEOUT:
            await asyncio.sleep(plan.hang_seconds)
            return _gateway_timeout()

        stored, already_ran = self._store.run_operation(
            key, request_fingerprint, path, lambda tx: apply(tx, command)
        )
        if already_ran:
            return _replay(stored, request_fingerprint)
        if plan.fault is Fault.DROP_RESPONSE:
            await asyncio.sleep(plan.hang_seconds)
            return _gateway_timeout()
        return Response(stored.response, status_code=stored.status_code, media_type=JSON)


def operation_response(stored: StoredOperation) -> Response:
    return Response(
        b'{"idempotency_key":%b,"status_code":%d,"response":%b}'
        % (orjson.dumps(stored.idempotency_key), stored.status_code, stored.response),
        media_type=JSON,
    )


def _idempotency_key(request: Request) -> str:
    key = request.headers.get("idempotency-key")
    if not key:
        raise ApiError(
            400,
            "idempotency_key_missing",
            "POST requests require an Idempotency-Key header.",
            "Idempotency-Key",
        )
    if len(key) > MAX_KEY_LENGTH:
        raise ApiError(
            400,
            "idempotency_key_invalid",
            f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters.",
            "Idempotency-Key",
        )
    return key


def decode_body(body: bytes) -> dict[str, object]:
    """A request body as a JSON object (an empty body is {}); 400 invalid_json otherwise."""
    if not body.strip():
        return {}
    try:
        payload: object = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    return payload


def _replay(stored: StoredOperation, request_fingerprint: str) -> Response:
    if stored.fingerprint != request_fingerprint:
        raise ApiError(
            409,
            "idempotency_key_reused",
            "This Idempotency-Key was already used with a different request body or path.",
        )
    return Response(
        stored.response, status_code=stored.status_code, media_type=JSON, headers=_REPLAYED
    )


def _gateway_timeout() -> Response:
    return json_response(
        504,
        error_body(504, "gateway_timeout", "Injected fault: the response was not sent in time."),
    )
