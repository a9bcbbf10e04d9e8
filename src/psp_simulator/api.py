"""The /v1 API a PSP connector talks to: authorizations and operation lookups."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, Request, Response

from psp_simulator import authorizations
from psp_simulator.errors import ApiError, json_response
from psp_simulator.operations import OperationRunner, operation_response
from psp_simulator.store import Store


def build_router(api_key: str, store: Store, runner: OperationRunner) -> APIRouter:
    expected = f"Bearer {api_key}".encode()

    def require_api_key(request: Request) -> None:
        supplied = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(supplied, expected):
            raise ApiError(
                401, "unauthorized", "Invalid API key: send 'Authorization: Bearer <API key>'."
            )

    router = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])

    @router.post("/authorizations")
    async def create_authorization(request: Request) -> Response:
        return await runner.run(
            request, authorizations.prepare_authorization, authorizations.authorize
        )

    @router.post("/authorizations/{authorization_id}/capture")
    async def capture_authorization(request: Request, authorization_id: str) -> Response:
        return await runner.run(
            request,
            authorizations.prepare_capture,
            lambda tx, command: authorizations.capture(tx, authorization_id, command),
        )

    @router.post("/authorizations/{authorization_id}/void")
    async def void_authorization(request: Request, authorization_id: str) -> Response:
        return await runner.run(
            request,
            authorizations.prepare_void,
            lambda tx, _: authorizations.void(tx, authorization_id),
        )

    @router.get("/authorizations/{authorization_id}")
    async def get_authorization(authorization_id: str) -> Response:
        authorization = store.get_authorization(authorization_id)
        if authorization is None:
            raise ApiError(404, "not_found", f"No such authorization: '{authorization_id}'.")
        return json_response(200, authorization.to_json())

    @router.get("/operations/{idempotency_key}")
    async def get_operation(idempotency_key: str) -> Response:
        stored = store.find_operation(idempotency_key)
        if stored is None:
            raise ApiError(404, "not_found", f"No operation with key '{idempotency_key}'.")
        return operation_response(stored)

    return router
