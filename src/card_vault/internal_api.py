"""The internal port (mTLS only): what the core's services and the vault's operators call.

Every route first checks the calling service against the allow list of its capability.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import structlog
from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError
from starlette.responses import Response

from card_vault.errors import install_handlers, invalid, json_response
from card_vault.identity import Gate
from card_vault.requests import JSON, decode
from card_vault.vault import (
    Forwarding,
    Vault,
    check_merchant_id,
    check_payment_method_id,
    check_publishable_key,
)

ModelT = TypeVar("ModelT", bound=BaseModel)
MAX_AMOUNT = 99_999_999


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyRegistration(_Body):
    merchant_id: StrictStr


class PspRequest(_Body):
    """What the core asks the PSP for; the vault adds the card."""

    amount: Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT)]
    currency: Annotated[StrictStr, Field(pattern=r"^[a-z]{3}$")]
    merchant_reference: Annotated[StrictStr, Field(min_length=1, max_length=255)]
    capture: StrictBool = False
    return_url: Annotated[StrictStr, Field(min_length=1, max_length=2048)] | None = None


class ForwardRequest(_Body):
    merchant_id: StrictStr
    payment_method: StrictStr
    psp_request: PspRequest


def parse(model: type[ModelT], params: dict[str, Any]) -> ModelT:
    """The first problem as a 400 naming the param (Stripe's brackets), never echoing input."""
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False, include_context=False)[0]
        head, *rest = [str(part) for part in first["loc"]] or ["body"]
        param = head + "".join(f"[{part}]" for part in rest)
        if first["type"] == "missing":
            raise invalid("parameter_missing", f"Missing required param: {param}.", param) from None
        if first["type"] == "extra_forbidden":
            message = f"Received unknown parameter: {param}"
            raise invalid("parameter_unknown", message, param) from None
        raise invalid("parameter_invalid", f"Invalid {param}: {first['msg']}.", param) from None


def idempotency_key(request: Request) -> str:
    key = request.headers.get("idempotency-key")
    if key is None:
        raise invalid(
            "idempotency_key_missing",
            "Forwarding requires an Idempotency-Key header; it is passed on to the PSP.",
            "Idempotency-Key",
        )
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise invalid(
            "idempotency_key_invalid",
            "The Idempotency-Key must be 1 to 255 printable characters.",
            "Idempotency-Key",
        )
    return key


def _merchant_query(request: Request) -> str:
    merchant_id = request.query_params.get("merchant_id")
    if merchant_id is None:
        raise invalid("parameter_missing", "Missing required param: merchant_id.", "merchant_id")
    return check_merchant_id(merchant_id)


def _limit(request: Request) -> int:
    text = request.query_params.get("limit", "10")
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise invalid("parameter_invalid", "Invalid limit: an integer from 1 to 100.", "limit")
    return int(text)


def create_internal_app(vault: Vault, gate: Gate, *, rewrap_batch_size: int) -> FastAPI:
    app = FastAPI(title="Payplane card vault (internal)", docs_url=None, redoc_url=None)
    install_handlers(app)

    def caller(request: Request, capability: str) -> str:
        service = gate.check(request.scope, capability)
        structlog.contextvars.bind_contextvars(service=service)
        return service

    @app.get("/healthz")
    async def healthz() -> Response:
        return json_response(200, {"status": "ok"})

    @app.put("/internal/publishable_keys/{key}")
    async def register_key(request: Request, key: str) -> Response:
        caller(request, "publishable_keys")
        body = parse(KeyRegistration, await decode(request, (JSON,)))
        merchant_id = check_merchant_id(body.merchant_id)
        return json_response(200, await vault.register_key(check_publishable_key(key), merchant_id))

    @app.delete("/internal/publishable_keys/{key}")
    async def revoke_key(request: Request, key: str) -> Response:
        caller(request, "publishable_keys")
        merchant_id = _merchant_query(request)
        return json_response(200, await vault.revoke_key(check_publishable_key(key), merchant_id))

    @app.get("/internal/payment_methods/{payment_method}")
    async def payment_method(request: Request, payment_method: str) -> Response:
        caller(request, "payment_methods")
        merchant_id = _merchant_query(request)
        return json_response(200, await vault.payment_method(merchant_id, payment_method))

    @app.get("/internal/payment_methods")
    async def payment_methods(request: Request) -> Response:
        caller(request, "payment_methods")
        listed = await vault.payment_methods(
            _merchant_query(request),
            limit=_limit(request),
            starting_after=request.query_params.get("starting_after"),
        )
        return json_response(200, listed)

    @app.post("/internal/forward/authorizations")
    async def forward(request: Request) -> Response:
        caller(request, "forward")
        key = idempotency_key(request)
        body = parse(ForwardRequest, await decode(request, (JSON,)))
        answer = await vault.forward(
            Forwarding(
                merchant_id=check_merchant_id(body.merchant_id),
                payment_method=check_payment_method_id(body.payment_method),
                psp_request=body.psp_request.model_dump(exclude_none=True),
                idempotency_key=key,
            )
        )
        headers = {"Idempotent-Replayed": "true"} if answer.replayed else None
        return json_response(answer.status, answer.body, headers)

    @app.get("/internal/keys")
    async def key_status(request: Request) -> Response:
        caller(request, "keys")
        return json_response(200, await vault.key_status())

    @app.post("/internal/keys/rotate")
    async def rotate(request: Request) -> Response:
        caller(request, "keys")
        return json_response(200, await vault.rotate_keys(rewrap_batch_size))

    @app.delete("/internal/keys/{version}")
    async def retire(request: Request, version: str) -> Response:
        caller(request, "keys")
        if not version.isdigit():
            raise invalid("parameter_invalid", "Invalid version: a key version number.", "version")
        return json_response(200, await vault.retire_key(int(version)))

    return app
