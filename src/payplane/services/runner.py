"""Runs mutating requests in atomic phases around PSP calls (see services/idempotency.py).

`execute` runs a use case's `prepare` step in the transaction that claims the idempotency key.
When `prepare` needs the PSP it returns a committed attempt, which `complete` sends and then
applies in a second transaction. `resolve_due` finishes attempts whose request died or timed
out. PaymentIntents and refunds share this machinery; nothing here knows SQL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from payplane.domain.attempt import Attempt
from payplane.domain.ids import new_id
from payplane.services import idempotency, orchestrator
from payplane.services.connectors import Connectors
from payplane.services.idempotency import ATTEMPT_CREATED, RequestShape
from payplane.services.ports import (
    ClaimState,
    Clock,
    PspOutcome,
    RequestContext,
    UnitOfWork,
    UnitOfWorkFactory,
)
from payplane.services.responses import Response

Prepare = Callable[[UnitOfWork], Awaitable["Response | Attempt"]]


class AttemptRunner:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        connectors: Connectors,
        clock: Clock,
        *,
        lock_seconds: float,
        capture_window: int,
    ) -> None:
        self.uow = uow
        self.connectors = connectors
        self.clock = clock
        self._lock_seconds = lock_seconds
        self.capture_window = capture_window

    async def execute(self, ctx: RequestContext, shape: RequestShape, prepare: Prepare) -> Response:
        async with self.uow() as uow:
            claimed = await idempotency.claim(uow, ctx, shape, self._lock_seconds)
            if claimed is not None and claimed.state is ClaimState.REPLAY:
                return idempotency.replay(claimed)
            if claimed is not None and claimed.state is ClaimState.RESUME:
                assert claimed.attempt_id is not None, "keys are stored with their first attempt"
                await uow.commit()
                async with self.uow() as read:
                    attempt = await read.attempts.get(claimed.attempt_id)
                return await self.complete(ctx, attempt)
            outcome = await prepare(uow)
            if isinstance(outcome, Response):
                await idempotency.finish(uow, ctx, outcome)
                await uow.commit()
                return outcome
            if ctx.idempotency_key is not None:
                await uow.idempotency.checkpoint(ctx, ATTEMPT_CREATED, outcome.id)
            await uow.commit()
        return await self.complete(ctx, outcome)

    async def complete(self, ctx: RequestContext, attempt: Attempt) -> Response:
        """Send a committed attempt (unless something already closed it) and apply the answer."""
        result = None
        if attempt.status.in_doubt:
            result = await orchestrator.send(self.connectors.get(attempt.connector), attempt)
        async with self.uow() as uow:
            intent = await uow.intents.get(ctx.merchant_id, attempt.payment_intent_id, lock=True)
            attempt = await uow.attempts.get(attempt.id, lock=True)
            if result is not None:
                await orchestrator.apply_result(
                    uow,
                    ctx,
                    self.clock,
                    intent,
                    attempt,
                    result,
                    capture_window=self.capture_window,
                )
            response = await orchestrator.render(uow, intent, attempt)
            if ctx.idempotency_key is not None:
                if attempt.status.in_doubt:
                    # No answer yet: a retry with this key resumes and asks the PSP again.
                    await uow.idempotency.release(ctx)
                else:
                    await idempotency.finish(uow, ctx, response)
            await uow.commit()
        return response

    async def resolve_due(self, *, limit: int, min_age_seconds: float) -> int:
        """Ask the PSP about attempts left open by timeouts or crashes; returns how many closed."""
        async with self.uow() as uow:
            due = await uow.attempts.due(limit=limit, min_age_seconds=min_age_seconds)
            await uow.commit()
        closed = 0
        for attempt in due:
            connector = self.connectors.get(attempt.connector)
            result = await connector.lookup(attempt.psp_idempotency_key)
            if result.outcome is PspOutcome.NOT_APPLIED:
                # The PSP never saw it. Sending it now under the same key is safe: if the
                # original is still on its way, the PSP runs only one of the two.
                result = await orchestrator.send(connector, attempt)
            if result.outcome in (PspOutcome.UNKNOWN, PspOutcome.NOT_APPLIED):
                continue
            ctx = RequestContext(attempt.merchant_id, "system:resolver", new_id("req"))
            async with self.uow() as uow:
                intent = await uow.intents.get(
                    attempt.merchant_id, attempt.payment_intent_id, lock=True
                )
                locked = await uow.attempts.get(attempt.id, lock=True)
                await orchestrator.apply_result(
                    uow,
                    ctx,
                    self.clock,
                    intent,
                    locked,
                    result,
                    capture_window=self.capture_window,
                )
                await uow.commit()
            closed += 1
        return closed
