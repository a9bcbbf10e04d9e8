"""The /v1 API a PSP connector talks to: authorizations of every product, refunds, disputes,
operation lookups.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Depends, Request, Response

from psp_simulator import authorizations, disputes, refunds, settlement_routes
from psp_simulator.errors import ApiError, json_response
from psp_simulator.operations import OperationRunner, operation_response
from psp_simulator.payloads import DisputeListQuery, parse
from psp_simulator.payment_methods import RULES, MethodTimingControl, Product
from psp_simulator.refunds import RefundBehaviorControl
from psp_simulator.store import Store


def build_router(
    api_key: str,
    store: Store,
    runner: OperationRunner,
    refund_behavior: RefundBehaviorControl,
    timing: MethodTimingControl,
    public_url: str,
) -> APIRouter:
    expected = f"Bearer {api_key}".encode()

    def require_api_key(request: Request) -> None:
        supplied = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(supplied, expected):
            raise ApiError(
                401, "unauthorized", "Invalid API key: send 'Authorization: Bearer <API key>'."
            )

    router = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])

    def create_endpoint(product: Product) -> Callable[[Request], Awaitable[Response]]:
        async def create(request: Request) -> Response:
            # Timings are read when applied, like the refund behaviour below.
            return await runner.run(
                request,
                authorizations.preparer(product),
                lambda tx, charge: authorizations.authorize(tx, charge, timing.config, public_url),
            )

        return create

    for product, rules in RULES.items():
        router.add_api_route(
            rules.path.removeprefix("/v1"), create_endpoint(product), methods=["POST"]
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

    @router.post("/authorizations/{authorization_id}/expire")
    async def expire_authorization(request: Request, authorization_id: str) -> Response:
        return await runner.run(
            request,
            authorizations.prepare_expire,
            lambda tx, _: authorizations.expire(tx, authorization_id),
        )

    @router.get("/authorizations/{authorization_id}")
    async def get_authorization(authorization_id: str) -> Response:
        authorization = store.transact(lambda tx: authorizations.current(tx, authorization_id))
        if authorization is None:
            raise ApiError(404, "not_found", f"No such authorization: '{authorization_id}'.")
        return json_response(200, authorization.to_json())

    @router.post("/authorizations/{authorization_id}/refunds")
    async def create_refund(request: Request, authorization_id: str) -> Response:
        # Read when applied: the behaviour in force once any injected latency has passed decides.
        return await runner.run(
            request,
            refunds.prepare_refund,
            lambda tx, command: refunds.create(
                tx,
                authorization_id,
                command,
                refund_behavior.config,
                timing.config.bank_debit_refund_settle_seconds,
            ),
        )

    @router.get("/refunds/{refund_id}")
    async def get_refund(refund_id: str) -> Response:
        refund = store.transact(lambda tx: refunds.current(tx, refund_id))
        if refund is None:
            raise ApiError(404, "not_found", f"No such refund: '{refund_id}'.")
        return json_response(200, refund.to_json())

    @router.post("/refunds/{refund_id}/cancel")
    async def cancel_refund(request: Request, refund_id: str) -> Response:
        return await runner.run(
            request, refunds.prepare_cancel, lambda tx, _: refunds.cancel(tx, refund_id)
        )

    @router.get("/disputes")
    async def list_disputes(request: Request) -> Response:
        query = parse(DisputeListQuery, dict(request.query_params))
        changed, has_more = store.transact(
            lambda tx: tx.disputes.changed_after(query.changed_after, query.limit)
        )
        return json_response(
            200,
            {
                "object": "list",
                "data": [dispute.to_json() for dispute in changed],
                "has_more": has_more,
            },
        )

    @router.get("/disputes/{dispute_id}")
    async def get_dispute(dispute_id: str) -> Response:
        dispute = store.transact(lambda tx: tx.disputes.get(dispute_id))
        if dispute is None:
            raise ApiError(404, "not_found", f"No such dispute: '{dispute_id}'.")
        return json_response(200, dispute.to_json())

    @router.post("/disputes/{dispute_id}/evidence")
    async def add_dispute_evidence(request: Request, dispute_id: str) -> Response:
        return await runner.run(
            request,
            disputes.prepare_evidence,
            lambda tx, command: disputes.add_evidence(tx, dispute_id, command),
        )

    @router.post("/disputes/{dispute_id}/close")
    async def close_dispute(request: Request, dispute_id: str) -> Response:
        return await runner.run(
            request, disputes.prepare_close, lambda tx, _: disputes.close(tx, dispute_id)
        )

    @router.get("/operations/{idempotency_key}")
    async def get_operation(idempotency_key: str) -> Response:
        stored = store.find_operation(idempotency_key)
        if stored is None:
            raise ApiError(404, "not_found", f"No operation with key '{idempotency_key}'.")
        return operation_response(stored)

    router.include_router(settlement_routes.build_report_router(store))
    return router
