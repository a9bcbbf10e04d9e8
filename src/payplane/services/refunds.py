"""Refund use cases: create, update, cancel, retrieve, list, and following pending refunds.

A refund reserves its amount on the intent (amount_refunded) under the intent's row lock, so
concurrent refunds can never together exceed what was captured; the PSP call then runs as an
attempt through AttemptRunner, like every other PSP call.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from payplane.domain.approval import REFUND_CREATE
from payplane.domain.attempt import Attempt, AttemptKind, AttemptStatus
from payplane.domain.errors import InvalidRequest
from payplane.domain.ids import new_id
from payplane.domain.money import normalize_currency
from payplane.domain.payment_intent import merge_metadata
from payplane.domain.payment_method import type_of
from payplane.domain.refund import Refund, RefundStatus
from payplane.services import approvals, refund_outcomes
from payplane.services.idempotency import RequestShape
from payplane.services.ports import ListQuery, Page, PspOutcome, RequestContext, UnitOfWork
from payplane.services.responses import Response
from payplane.services.runner import AttemptRunner


@dataclass(frozen=True, slots=True)
class RefundParams:
    payment_intent: str
    amount: int | None = None
    currency: str | None = None
    reason: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


class RefundService:
    def __init__(self, runner: AttemptRunner, *, approval_threshold: int) -> None:
        self._runner = runner
        self._uow = runner.uow
        self._approval_threshold = approval_threshold

    async def retrieve(self, ctx: RequestContext, refund_id: str) -> dict[str, Any]:
        async with self._uow() as uow:
            refund = await uow.refunds.get(ctx.merchant_id, refund_id)
        return refund.as_stripe_object()

    async def list(self, ctx: RequestContext, query: ListQuery) -> Page:
        async with self._uow() as uow:
            return await uow.refunds.list(ctx.merchant_id, query)

    async def create(
        self, ctx: RequestContext, shape: RequestShape, params: RefundParams, *, maker_checker: bool
    ) -> Response:
        """With maker_checker, a refund above the approval threshold is not made but held for a
        second operator's approval (202 with the approval request)."""

        async def prepare(uow: UnitOfWork) -> Response | Attempt:
            intent = await uow.intents.get(ctx.merchant_id, params.payment_intent, lock=True)
            if params.currency is not None and normalize_currency(params.currency) != (
                intent.currency
            ):
                raise InvalidRequest(
                    f"The refund currency ({params.currency.lower()}) must be the currency of "
                    f"the PaymentIntent ({intent.currency}).",
                    code="parameter_invalid",
                    param="currency",
                )
            amount = intent.reserve_refund(params.amount)
            if maker_checker and amount > self._approval_threshold:
                # The intent is not saved: nothing is reserved until the refund is approved.
                held = {**asdict(params), "amount": amount, "currency": intent.currency}
                now = self._runner.clock.now()
                return await approvals.open_request(uow, ctx, now, REFUND_CREATE, held)
            authorization = next(
                a
                for a in reversed(await uow.attempts.for_intent(intent.id))
                if a.kind is AttemptKind.AUTHORIZE and a.status is AttemptStatus.SUCCEEDED
            )
            if authorization.payment_method is not None:
                method_type = type_of(authorization.payment_method)
                connector = self._runner.connectors.get(authorization.connector)
                connector.methods[method_type].check_refund(method_type)
            refund = Refund(
                id=new_id("re"),
                merchant_id=ctx.merchant_id,
                payment_intent_id=intent.id,
                amount=amount,
                currency=intent.currency,
                status=RefundStatus.PENDING,
                connector=authorization.connector,
                created=self._runner.clock.now(),
                charge=intent.latest_charge,
                reason=params.reason,
                metadata=dict(params.metadata),
            )
            await uow.refunds.add(refund)
            await uow.intents.save(intent)
            await uow.outbox.append(
                ctx, "refund.created", refund.as_stripe_object(), payment_intent_id=intent.id
            )
            await uow.audit.record(
                ctx,
                "refund.create",
                object_type="refund",
                object_id=refund.id,
                after=refund.status.value,
                detail={"payment_intent": intent.id, "amount": amount, "reason": params.reason},
            )
            return await self._attempt(uow, refund, AttemptKind.REFUND, authorization.psp_reference)

        return await self._runner.execute(ctx, shape, prepare)

    async def create_approved(
        self, ctx: RequestContext, shape: RequestShape, params: dict[str, Any]
    ) -> Response:
        """The refund an approval request held, now approved (the ApprovedAction of refunds)."""
        return await self.create(ctx, shape, RefundParams(**params), maker_checker=False)

    async def update(
        self, ctx: RequestContext, shape: RequestShape, refund_id: str, metadata: dict[str, str]
    ) -> Response:
        async def prepare(uow: UnitOfWork) -> Response | Attempt:
            refund = await uow.refunds.get(ctx.merchant_id, refund_id, lock=True)
            refund.metadata = merge_metadata(refund.metadata, metadata) if metadata else {}
            await uow.refunds.save(refund)
            await uow.audit.record(
                ctx,
                "refund.update",
                object_type="refund",
                object_id=refund.id,
                detail={"fields": ["metadata"]},
            )
            return Response(200, refund.as_stripe_object())

        return await self._runner.execute(ctx, shape, prepare)

    async def cancel(self, ctx: RequestContext, shape: RequestShape, refund_id: str) -> Response:
        async def prepare(uow: UnitOfWork) -> Response | Attempt:
            unlocked = await uow.refunds.get(ctx.merchant_id, refund_id)
            await uow.intents.get(ctx.merchant_id, unlocked.payment_intent_id, lock=True)
            refund = await uow.refunds.get(ctx.merchant_id, refund_id, lock=True)
            refund.check_cancel()
            attempts = await uow.attempts.for_intent(refund.payment_intent_id)
            if refund.psp_reference is None or any(
                a.refund_id == refund.id and a.status.is_open for a in attempts
            ):
                raise InvalidRequest(
                    "This refund is still being submitted to the payment processor; retry the "
                    "cancellation in a moment.",
                    code="refund_unexpected_state",
                )
            await uow.audit.record(
                ctx,
                "refund.cancel",
                object_type="refund",
                object_id=refund.id,
                before=refund.status.value,
            )
            return await self._attempt(uow, refund, AttemptKind.REFUND_CANCEL, refund.psp_reference)

        return await self._runner.execute(ctx, shape, prepare)

    async def follow_pending(self, *, limit: int) -> int:
        """Ask the PSP what became of accepted but pending refunds; returns how many settled."""
        async with self._uow() as uow:
            due = await uow.refunds.pending_due(limit=limit)
            await uow.commit()
        settled = 0
        for refund in due:
            assert refund.psp_reference is not None
            result = await self._runner.connectors.get(refund.connector).refund_status(
                refund.psp_reference
            )
            if result.outcome is not PspOutcome.SUCCEEDED or result.status in (None, "pending"):
                continue
            ctx = RequestContext(refund.merchant_id, "system:refund_sync", new_id("req"))
            async with self._uow() as uow:
                intent = await uow.intents.get(None, refund.payment_intent_id, lock=True)
                locked = await uow.refunds.get(None, refund.id, lock=True)
                await refund_outcomes.settle(
                    uow, ctx, intent, locked, RefundStatus(result.status), result.failure_reason
                )
                await uow.commit()
            settled += 1
        return settled

    async def _attempt(
        self, uow: UnitOfWork, refund: Refund, kind: AttemptKind, psp_reference: str | None
    ) -> Attempt:
        attempt_id = new_id("att")
        attempt = Attempt(
            id=attempt_id,
            payment_intent_id=refund.payment_intent_id,
            merchant_id=refund.merchant_id,
            kind=kind,
            status=AttemptStatus.PENDING,
            connector=refund.connector,
            psp_idempotency_key=attempt_id,
            amount=refund.amount,
            currency=refund.currency,
            psp_reference=psp_reference,
            refund_id=refund.id,
        )
        await uow.attempts.add(attempt)
        return attempt
