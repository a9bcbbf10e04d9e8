"""Operator controls for tests and chaos runs: faults, refunds, payment method timings, disputes,
webhooks and counters.

Not part of the PSP's API: no auth and no Idempotency-Key.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from psp_simulator import disputes, settlement_routes
from psp_simulator.errors import from_validation_error, json_response
from psp_simulator.faults import FaultConfig, FaultInjector
from psp_simulator.models import Outcome
from psp_simulator.payloads import PayloadT, parse
from psp_simulator.payment_methods import MethodTiming, MethodTimingControl
from psp_simulator.refunds import RefundBehavior, RefundBehaviorControl
from psp_simulator.store import Store
from psp_simulator.webhooks import WebhookControl, WebhookFaults, WebhookTargetRequest

FLUSH_POLL_SECONDS = 0.02


class FlushQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout: Annotated[float, Field(ge=0.0, le=600.0)] = 10.0


def build_router(
    store: Store,
    faults: FaultInjector,
    refund_behavior: RefundBehaviorControl,
    webhooks: WebhookControl,
    dispute_fee: int,
    timing: MethodTimingControl,
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

    @router.get("/method_timing")
    async def get_method_timing() -> Response:
        return json_response(200, timing.config.model_dump())

    @router.post("/method_timing")
    async def set_method_timing(request: Request) -> Response:
        # The whole configuration, for authorizations created from now on.
        timing.replace(await _parse(request, MethodTiming))
        return json_response(200, timing.config.model_dump())

    @router.post("/reset")
    async def reset() -> Response:
        faults.reset()
        refund_behavior.reset()
        timing.reset()
        webhooks.reset_faults()
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

    @router.get("/webhooks")
    async def get_webhooks() -> Response:
        return json_response(200, webhooks.describe())

    @router.post("/webhooks")
    async def set_webhooks(request: Request) -> Response:
        webhooks.configure(await _parse(request, WebhookTargetRequest))
        return json_response(200, webhooks.describe())

    @router.get("/webhook_faults")
    async def get_webhook_faults() -> Response:
        return json_response(200, webhooks.faults.model_dump())

    @router.post("/webhook_faults")
    async def set_webhook_faults(request: Request) -> Response:
        webhooks.faults = await _parse(request, WebhookFaults)
        return json_response(200, webhooks.faults.model_dump())

    @router.get("/webhooks/stats")
    async def webhook_stats() -> Response:
        return json_response(200, store.transact(lambda tx: tx.events.stats()))

    @router.post("/webhooks/flush")
    async def flush_webhooks(request: Request) -> Response:
        deadline = time.monotonic() + parse(FlushQuery, dict(request.query_params)).timeout
        # Polls the outbox: delivery happens in the sender task, which reports to nobody.
        while True:
            pending = store.transact(lambda tx: tx.events.pending_count())
            if not pending or time.monotonic() >= deadline:
                break
            await asyncio.sleep(FLUSH_POLL_SECONDS)
        return json_response(200, store.transact(lambda tx: tx.events.stats()))

    router.include_router(settlement_routes.build_admin_router(store))
    return router


async def _parse(request: Request, model: type[PayloadT]) -> PayloadT:
    try:
        return model.model_validate_json(await request.body() or b"{}")
    except ValidationError as exc:
        raise from_validation_error(exc) from None


def _answer(outcome: Outcome) -> Response:
    return json_response(outcome.status_code, outcome.body)
