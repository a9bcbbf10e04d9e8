"""PaymentIntent use cases: create, update, confirm, capture, cancel, retrieve, list, resolve.

Each mutating use case is a `prepare` step run in the transaction that claims the idempotency
key; when it needs the PSP it returns a committed attempt, which `_complete` sends and applies in
a second transaction. Nothing here commits outside that pattern, and nothing here knows SQL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from payplane.domain.attempt import Attempt, AttemptKind, AttemptStatus
from payplane.domain.errors import UnexpectedState
from payplane.domain.ids import new_id
from payplane.domain.money import check_amount, normalize_currency
from payplane.domain.payment_intent import CaptureMethod, PaymentIntent, Status
from payplane.services import idempotency, orchestrator
from payplane.services.idempotency import ATTEMPT_CREATED, RequestShape
from payplane.services.ports import (
    ClaimState,
    Clock,
    ListQuery,
    Page,
    PspConnector,
    PspOutcome,
    RequestContext,
    UnitOfWork,
    UnitOfWorkFactory,
)
from payplane.services.responses import Response

Prepare = Callable[[UnitOfWork], Awaitable["Response | Attempt"]]


@dataclass(frozen=True, slots=True)
class CreateParams:
    amount: int
    currency: str
    capture_method: CaptureMethod = CaptureMethod.AUTOMATIC
    confirm: bool = False
    payment_method: str | None = None
    customer: str | None = None
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


class PaymentIntentService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        connector: PspConnector,
        clock: Clock,
        *,
        lock_seconds: float,
    ) -> None:
        self._uow = uow
        self._connector = connector
        self._clock = clock
        self._lock_seconds = lock_seconds

    # -- reads ------------------------------------------------------------------------------

    async def retrieve(self, ctx: RequestContext, intent_id: str) -> dict[str, Any]:
        async with self._uow() as uow:
            intent = await uow.intents.get(ctx.merchant_id, intent_id)
        return intent.as_stripe_object()

    async def list(self, ctx: RequestContext, query: ListQuery) -> Page:
        async with self._uow() as uow:
            return await uow.intents.list(ctx.merchant_id, query)

    # -- writes -----------------------------------------------------------------------------

    async def create(
        self, ctx: RequestContext, shape: RequestShape, params: CreateParams
    ) -> Response:
        async def prepare(uow: UnitOfWork) -> Response | Attempt:
            intent = PaymentIntent(
                id=new_id("pi"),
                merchant_id=ctx.merchant_id,
                amount=check_amount(params.amount),
                currency=normalize_currency(params.currency),
                status=(
                    Status.REQUIRES_CONFIRMATION
                    if params.payment_method
                    else Status.REQUIRES_PAYMENT_METHOD
                ),
                capture_method=params.capture_method,
                created=self._clock.now(),
                payment_method=params.payment_method,
                customer=params.customer,
                description=params.description,
                metadata=dict(params.metadata),
                events=["payment_intent.created"],
            )
            await uow.intents.add(intent)
            await orchestrator.record_events(uow, ctx, intent)
            await uow.audit.record(
                ctx,
                "payment_intent.create",
                object_type="payment_intent",
                object_id=intent.id,
                after=intent.status.value,
                detail={"amount": intent.amount, "currency": intent.currency},
            )
            if params.confirm:
                return await self._begin_confirmation(uow, ctx, intent)
            return Response(200, intent.as_stripe_object())

        return await self._execute(ctx, shape, prepare)

    async def update(
        self, ctx: RequestContext, shape: RequestShape, intent_id: str, changes: dict[str, Any]
    ) -> Response:
        async def prepare(uow: UnitOfWork) -> Response | Attempt:
            intent = await uow.intents.get(ctx.merchant_id, intent_id, lock=True)
            before = intent.status
            if "amount" in changes:
                check_amount(changes["amount"])
            if "currency" in changes:
                changes["currency"] = normalize_currency(changes["currency"])
            intent.update(changes)
            await uow.intents.save(intent)
            await uow.audit.record(
                ctx,
                "payment_intent.update",
                object_type="payment_intent",
                object_id=intent.id,
                before=before.value,
                after=intent.status.value,
                detail={"fields": sorted(changes)},
            )
            return Response(200, intent.as_stripe_object())

        return await self._execute(ctx, shape, prepare)

    async def confirm(
        self, ctx: RequestContext, shape: RequestShape, intent_id: str, payment_method: str | None
    ) -> Response:
        async def prepare(uow: UnitOfWork) -> Response | Attempt:
            intent = await uow.intents.get(ctx.merchant_id, intent_id, lock=True)
            if payment_method is not None:
                intent.update({"payment_method": payment_method})
            return await self._begin_confirmation(uow, ctx, intent)

        return await self._execute(ctx, shape, prepare)

    async def capture(
        self, ctx: RequestContext, shape: RequestShape, intent_id: str, amount: int | None
    ) -> Response:
        async def prepare(uow: UnitOfWork) -> Response | Attempt:
            intent = await uow.intents.get(ctx.merchant_id, intent_id, lock=True)
            to_capture = intent.check_capture(amount)
            return await self._new_attempt(
                uow, ctx, intent, AttemptKind.CAPTURE, to_capture, reason=None
            )

        return await self._execute(ctx, shape, prepare)

    async def cancel(
        self, ctx: RequestContext, shape: RequestShape, intent_id: str, reason: str | None
    ) -> Response:
        async def prepare(uow: UnitOfWork) -> Response | Attempt:
            intent = await uow.intents.get(ctx.merchant_id, intent_id, lock=True)
            intent.check_cancel()
            if intent.status is Status.REQUIRES_CAPTURE:
                # The hold lives at the PSP: void it there before the intent says canceled.
                return await self._new_attempt(
                    uow, ctx, intent, AttemptKind.VOID, intent.amount_capturable, reason=reason
                )
            before = intent.status
            intent.canceled(reason, self._clock.now())
            await uow.intents.save(intent)
            await orchestrator.record_events(uow, ctx, intent)
            await uow.audit.record(
                ctx,
                "payment_intent.cancel",
                object_type="payment_intent",
                object_id=intent.id,
                before=before.value,
                after=intent.status.value,
                detail={"reason": reason},
            )
            return Response(200, intent.as_stripe_object())

        return await self._execute(ctx, shape, prepare)

    # -- the resolver -----------------------------------------------------------------------

    async def resolve_due(self, *, limit: int, min_age_seconds: float) -> int:
        """Ask the PSP about attempts left open by timeouts or crashes; returns how many closed."""
        async with self._uow() as uow:
            due = await uow.attempts.due(limit=limit, min_age_seconds=min_age_seconds)
            await uow.commit()
        closed = 0
        for attempt in due:
            result = await self._connector.lookup(attempt.psp_idempotency_key)
            if result.outcome is PspOutcome.NOT_APPLIED:
                # The PSP never saw it. Sending it now under the same key is safe: if the
                # original is still on its way, the PSP runs only one of the two.
                result = await orchestrator.send(
                    self._connector, attempt, attempt.payment_intent_id
                )
            if result.outcome in (PspOutcome.UNKNOWN, PspOutcome.NOT_APPLIED):
                continue
            ctx = RequestContext(attempt.merchant_id, "system:resolver", new_id("req"))
            async with self._uow() as uow:
                intent = await uow.intents.get(
                    attempt.merchant_id, attempt.payment_intent_id, lock=True
                )
                locked = await uow.attempts.get(attempt.id, lock=True)
                await orchestrator.apply_result(uow, ctx, self._clock, intent, locked, result)
                await uow.commit()
            closed += 1
        return closed

    # -- phases -----------------------------------------------------------------------------

    async def _begin_confirmation(
        self, uow: UnitOfWork, ctx: RequestContext, intent: PaymentIntent
    ) -> Attempt:
        before = intent.status
        intent.begin_confirmation()
        attempt = Attempt(
            id=new_id("att"),
            payment_intent_id=intent.id,
            merchant_id=intent.merchant_id,
            kind=AttemptKind.AUTHORIZE,
            status=AttemptStatus.PENDING,
            connector=self._connector.name,
            psp_idempotency_key="",
            amount=intent.amount,
            currency=intent.currency,
            payment_method=intent.payment_method,
            capture=intent.capture_method is CaptureMethod.AUTOMATIC,
            charge_id=new_id("ch"),
        )
        attempt.psp_idempotency_key = attempt.id
        await uow.attempts.add(attempt)
        await uow.intents.save(intent)
        await orchestrator.record_events(uow, ctx, intent)
        await uow.audit.record(
            ctx,
            "payment_intent.confirm",
            object_type="payment_intent",
            object_id=intent.id,
            before=before.value,
            after=intent.status.value,
            detail={"attempt": attempt.id},
        )
        return attempt

    async def _new_attempt(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        intent: PaymentIntent,
        kind: AttemptKind,
        amount: int,
        *,
        reason: str | None,
    ) -> Attempt:
        attempts = await uow.attempts.for_intent(intent.id)
        if any(a.status.is_open for a in attempts):
            raise UnexpectedState(
                "Another operation on this PaymentIntent is still in progress with the payment "
                "processor. Retrieve the PaymentIntent and try again once it has settled."
            )
        authorization = next(
            a
            for a in reversed(attempts)
            if a.kind is AttemptKind.AUTHORIZE and a.status is AttemptStatus.SUCCEEDED
        )
        attempt_id = new_id("att")
        attempt = Attempt(
            id=attempt_id,
            payment_intent_id=intent.id,
            merchant_id=intent.merchant_id,
            kind=kind,
            status=AttemptStatus.PENDING,
            connector=authorization.connector,
            psp_idempotency_key=attempt_id,
            amount=amount,
            currency=intent.currency,
            reason=reason,
            psp_reference=authorization.psp_reference,
        )
        await uow.attempts.add(attempt)
        await uow.audit.record(
            ctx,
            f"payment_intent.{kind.value}",
            object_type="payment_intent",
            object_id=intent.id,
            before=intent.status.value,
            after=intent.status.value,
            detail={"attempt": attempt.id, "amount": amount, "reason": reason},
        )
        return attempt

    async def _execute(
        self, ctx: RequestContext, shape: RequestShape, prepare: Prepare
    ) -> Response:
        async with self._uow() as uow:
            claimed = await idempotency.claim(uow, ctx, shape, self._lock_seconds)
            if claimed is not None and claimed.state is ClaimState.REPLAY:
                return idempotency.replay(claimed)
            if claimed is not None and claimed.state is ClaimState.RESUME:
                assert claimed.attempt_id is not None, "keys are stored with their first attempt"
                await uow.commit()
                async with self._uow() as read:
                    attempt = await read.attempts.get(claimed.attempt_id)
                return await self._complete(ctx, attempt)
            outcome = await prepare(uow)
            if isinstance(outcome, Response):
                await idempotency.finish(uow, ctx, outcome)
                await uow.commit()
                return outcome
            if ctx.idempotency_key is not None:
                await uow.idempotency.checkpoint(ctx, ATTEMPT_CREATED, outcome.id)
            await uow.commit()
        return await self._complete(ctx, outcome)

    async def _complete(self, ctx: RequestContext, attempt: Attempt) -> Response:
        """Send a committed attempt (unless something already closed it) and apply the answer."""
        result = None
        if attempt.status.is_open:
            result = await orchestrator.send(self._connector, attempt, attempt.payment_intent_id)
        async with self._uow() as uow:
            intent = await uow.intents.get(ctx.merchant_id, attempt.payment_intent_id, lock=True)
            attempt = await uow.attempts.get(attempt.id, lock=True)
            if result is not None:
                await orchestrator.apply_result(uow, ctx, self._clock, intent, attempt, result)
            response = orchestrator.render(intent, attempt)
            if ctx.idempotency_key is not None:
                if attempt.status.is_open:
                    # No answer yet: a retry with this key resumes and asks the PSP again.
                    await uow.idempotency.release(ctx)
                else:
                    await idempotency.finish(uow, ctx, response)
            await uow.commit()
        return response
