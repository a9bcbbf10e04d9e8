"""What a PSP's answer about a refund does: status, intent's refunded amount and the ledger.

A refund's money is booked (merchant payable -> PSP) when the PSP accepts it, whether it then
says pending or succeeded; if it fails or is canceled afterwards, a reversal journal undoes the
booking and the intent gets the amount back as refundable. Nothing is ever edited in place.
"""

from __future__ import annotations

from payplane.domain import ledger
from payplane.domain.attempt import Attempt, AttemptKind, AttemptStatus
from payplane.domain.money import Money
from payplane.domain.payment_intent import PaymentIntent
from payplane.domain.refund import Refund, RefundStatus
from payplane.services.ports import PspOutcome, PspResult, RequestContext, UnitOfWork


async def apply(
    uow: UnitOfWork,
    ctx: RequestContext,
    intent: PaymentIntent,
    attempt: Attempt,
    result: PspResult,
) -> None:
    """Apply the answer to a refund or refund-cancel call (intent and attempt locked)."""
    assert attempt.refund_id is not None
    refund = await uow.refunds.get(None, attempt.refund_id, lock=True)
    if result.outcome is PspOutcome.UNKNOWN:
        attempt.status = AttemptStatus.UNKNOWN
        await uow.attempts.save(attempt)
        return
    if result.outcome is PspOutcome.SUCCEEDED:
        attempt.status = AttemptStatus.SUCCEEDED
        if attempt.kind is AttemptKind.REFUND:
            refund.psp_reference = result.psp_reference
            if result.status != RefundStatus.FAILED.value:
                await _book(uow, refund)
        await settle(
            uow,
            ctx,
            intent,
            refund,
            RefundStatus(result.status or "pending"),
            result.failure_reason,
        )
    else:
        attempt.status = AttemptStatus.FAILED
        attempt.error = {
            "outcome": result.outcome.value,
            "code": result.error_code,
            "message": result.message,
        }
        if attempt.kind is AttemptKind.REFUND:
            # Refused or unreachable before anything happened: the refund failed, unbooked.
            reason = (
                "psp_unavailable"
                if result.outcome is PspOutcome.NOT_APPLIED
                else (result.error_code or "declined")
            )
            await settle(uow, ctx, intent, refund, RefundStatus.FAILED, reason)
    await uow.attempts.save(attempt)


async def settle(
    uow: UnitOfWork,
    ctx: RequestContext,
    intent: PaymentIntent,
    refund: Refund,
    status: RefundStatus,
    failure_reason: str | None,
) -> None:
    """Move a refund to the PSP's status, reversing its money if it no longer holds funds."""
    before = refund.status
    held = refund.holds_funds
    if not refund.move_to(status, failure_reason):
        await _save_and_publish(uow, ctx, intent, refund)
        return
    if held and not refund.holds_funds:
        intent.release_refund(refund.amount)
        await uow.intents.save(intent)
        if refund.booked:
            await uow.ledger.post(
                ledger.refund_reversal(
                    refund.merchant_id,
                    refund.connector,
                    intent.id,
                    Money(refund.amount, refund.currency),
                )
            )
    await _save_and_publish(uow, ctx, intent, refund)
    await uow.audit.record(
        ctx,
        f"refund.{refund.status.value}",
        object_type="refund",
        object_id=refund.id,
        before=before.value,
        after=refund.status.value,
        detail={
            "payment_intent": intent.id,
            "amount": refund.amount,
            "failure_reason": refund.failure_reason,
        },
    )


async def _book(uow: UnitOfWork, refund: Refund) -> None:
    if refund.booked:
        return
    refund.booked = True
    await uow.ledger.post(
        ledger.refund(
            refund.merchant_id,
            refund.connector,
            refund.payment_intent_id,
            Money(refund.amount, refund.currency),
        )
    )
    refund.events.append("charge.refunded")


async def _save_and_publish(
    uow: UnitOfWork, ctx: RequestContext, intent: PaymentIntent, refund: Refund
) -> None:
    await uow.refunds.save(refund)
    for event_type in refund.events:
        data = (
            intent.as_charge_object(payment_method=intent.payment_method)
            if event_type == "charge.refunded"
            else refund.as_stripe_object()
        )
        await uow.outbox.append(ctx, event_type, data, payment_intent_id=intent.id)
    refund.events.clear()
