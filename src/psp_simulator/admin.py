"""Operator controls for tests and chaos runs: faults, refund behaviour, disputes and counters.

Not part of the PSP's API: no auth and no Idempotency-Key.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from psp_simulator import disputes
from psp_simulator.errors import from_validation_error, json_response
from psp_simulator.faults import FaultConfig, FaultInjector
from psp_simulator.models import Outcome
from psp_simulator.payloads import PayloadT
from psp_simulator.refunds import RefundBehavior, RefundBehaviorControl
from psp_simulator.store import Store


def build_router(
    store: Store, faults: FaultInjector, refund_behavior: RefundBehaviorControl, dispute_fee: int
) -> APIRouter:
    router = APIRouter(prefix="/admin")

    @router.get("/faults")
    async def get_faults() -> Response:
        return json_response(200, faults.config.model_dump())

    @router.post("/faults")
    async def set_faults(request: Request) -> Response:
        # Replaces the whole configuration: omitted fields go back to their defaults.
        faults.config = await _parse(request, FaultConfig)
        return json_response(200, faults.config.model_dump())

    @router.get("/refund_behavior")
    async def get_refund_behavior() -> Response:
        return json_response(200, refund_behavior.config.model_dump())

    @router.post("/refund_behavior")
    async def set_refund_behavior(request: Request) -> Response:
        # Like faults, the whole configuration; it applies to refunds created from now on.
        refund_behavior.config = await _parse(request, RefundBehavior)
        return json_response(200, refund_behavior.config.model_dump())

    @router.post("/reset")
    async def reset() -> Response:
        faults.reset()
        refund_behavior.reset()
        return json_response(200, faults.config.model_dump())

    @router.post("/disputes")
    async def open_dispute(request: Request) -> Response:
        command = await _parse(request, disputes.OpenDisputeRequest)
        return _answer(store.transact(lambda tx: disputes.open_dispute(tx, command, dispute_fee)))

    @router.post("/disputes/{dispute_id}/status")
    async def set_dispute_status(request: Request, dispute_id: str) -> Response:
        command = await _parse(request, disputes.DisputeStatusRequest)
        return _answer(
            store.transact(
                lambda tx: disputes.change_status(tx, dispute_id, command.status, dispute_fee)
            )
        )

    @router.get("/stats")
    async def stats() -> Response:
        return json_response(200, store.stats())

    return router


async def _parse(request: Request, model: type[PayloadT]) -> PayloadT:
    try:
        return model.model_validate_json(await request.body() or b"{}")
    except ValidationError as exc:
        raise from_validation_error(exc) from None


def _answer(outcome: Outcome) -> Response:
    return json_response(outcome.status_code, outcome.body)
