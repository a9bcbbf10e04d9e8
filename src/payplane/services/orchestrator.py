"""Sends committed attempts to the PSP and applies what the PSP says, exactly once.

`apply_result` is the single place a PSP outcome becomes a state change: the synchronous
response, a retried request, and the resolver all end here, with the intent and the attempt
locked, and an attempt that is no longer open is left alone. That is what makes the same fact
arriving twice harmless.
"""

from __future__ import annotations

from typing import Any

from payplane.domain import ledger
from payplane.domain.attempt import Attempt, AttemptKind, AttemptStatus
from payplane.domain.errors import CardError, InvalidRequest, PspRefused, PspUnavailable
from payplane.domain.ledger import Hold, JournalKind
from payplane.domain.money import Money
from payplane.domain.payment_intent import (
    AUTOMATIC,
    PaymentError,
    PaymentIntent,
    Status,
    Trigger,
)
from payplane.domain.payment_method import type_of
from payplane.services import refund_outcomes
from payplane.services.ports import (
    Clock,
    PspConnector,
    PspOutcome,
    PspResult,
    RequestContext,
    UnitOfWork,
)
from payplane.services.responses import Response, error_body


async def send(connector: PspConnector, attempt: Attempt) -> PspResult:
    key = attempt.psp_idempotency_key
    if attempt.kind is AttemptKind.AUTHORIZE:
        assert attempt.payment_method is not None
        return await connector.authorize(
            idempotency_key=key,
            merchant_id=attempt.merchant_id,
            amount=attempt.amount,
            currency=attempt.currency,
            payment_method=attempt.payment_method,
            merchant_reference=attempt.payment_intent_id,
            capture=attempt.capture,
            return_url=attempt.return_url,
        )
    assert attempt.psp_reference is not None
    if attempt.kind is AttemptKind.CAPTURE:
        return await connector.capture(
            idempotency_key=key, psp_reference=attempt.psp_reference, amount=attempt.amount
        )
    if attempt.kind is AttemptKind.VOID:
        return await connector.void(idempotency_key=key, psp_reference=attempt.psp_reference)
    if attempt.kind is AttemptKind.REFUND:
        return await connector.refund(
            idempotency_key=key, psp_reference=attempt.psp_reference, amount=attempt.amount
        )
    return await connector.cancel_refund(idempotency_key=key, psp_refund_id=attempt.psp_reference)


async def record_events(
    uow: UnitOfWork, ctx: RequestContext, intent: PaymentIntent, attempt: Attempt | None = None
) -> None:
    """Turn the intent's pending domain events into outbox rows (same transaction)."""
    for event_type in intent.events:
        if event_type.startswith("charge.") and attempt is not None:
            data = charge_object(intent, attempt)
        else:
            data = intent.as_stripe_object()
        await uow.outbox.append(ctx, event_type, data, payment_intent_id=intent.id)
    intent.events.clear()


async def apply_result(
    uow: UnitOfWork,
    ctx: RequestContext,
    clock: Clock,
    intent: PaymentIntent,
    attempt: Attempt,
    result: PspResult,
    *,
    capture_window: int,
) -> None:
    """Apply a PSP outcome to a locked intent and attempt; a no-op once the attempt is closed."""
    if not attempt.status.is_open:
        return
    if attempt.refund_id is not None:
        await refund_outcomes.apply(uow, ctx, intent, attempt, result)
        return
    before = intent.status
    if result.outcome is PspOutcome.UNKNOWN:
        if attempt.status.in_doubt:
            attempt.status = AttemptStatus.UNKNOWN
            await uow.attempts.save(attempt)
        return
    if result.outcome in (PspOutcome.ACTION_REQUIRED, PspOutcome.PENDING):
        if not _not_final(intent, attempt, result):
            return  # nothing new: the same interim answer again, or an older one
    elif result.outcome is PspOutcome.SUCCEEDED:
        attempt.status = AttemptStatus.SUCCEEDED
        attempt.psp_reference = result.psp_reference or attempt.psp_reference
        await _succeeded(uow, clock, intent, attempt, capture_window)
    else:
        attempt.status = AttemptStatus.FAILED
        attempt.error = {
            "outcome": result.outcome.value,
            "type": result.error_type,
            "code": result.error_code,
            "decline_code": result.decline_code,
            "message": result.message,
        }
        if attempt.kind is AttemptKind.AUTHORIZE:
            if result.outcome is PspOutcome.DECLINED:
                assert attempt.charge_id is not None
                intent.declined(_payment_error(result, attempt.payment_method), attempt.charge_id)
            else:
                intent.psp_unavailable()
    await uow.attempts.save(attempt)
    await uow.intents.save(intent)
    await record_events(uow, ctx, intent, attempt)
    await uow.audit.record(
        ctx,
        f"payment_intent.{attempt.kind.value}.{attempt.status.value}",
        object_type="payment_intent",
        object_id=intent.id,
        before=before.value,
        after=intent.status.value,
        detail={
            "attempt": attempt.id,
            "psp_reference": attempt.psp_reference,
            "amount": attempt.amount,
        },
    )


def _not_final(intent: PaymentIntent, attempt: Attempt, result: PspResult) -> bool:
    """Record an interim answer; False when it moves nothing (never backwards)."""
    assert attempt.kind is AttemptKind.AUTHORIZE, "only authorizations wait for customers"
    assert attempt.charge_id is not None
    attempt.psp_reference = result.psp_reference or attempt.psp_reference
    if result.outcome is PspOutcome.ACTION_REQUIRED:
        if not attempt.status.in_doubt or result.redirect_url is None:
            return False
        attempt.status = AttemptStatus.REQUIRES_ACTION
        attempt.redirect_url = result.redirect_url
        intent.latest_charge = attempt.charge_id
        intent.requires_action(result.redirect_url)
        return True
    if attempt.status is AttemptStatus.AWAITING:
        return False
    attempt.status = AttemptStatus.AWAITING
    intent.awaiting_result(attempt.charge_id)
    return True


async def _succeeded(
    uow: UnitOfWork, clock: Clock, intent: PaymentIntent, attempt: Attempt, capture_window: int
) -> None:
    if attempt.kind is AttemptKind.AUTHORIZE:
        hold = Hold(
            attempt.id,
            intent.merchant_id,
            attempt.connector,
            Money(attempt.amount, attempt.currency),
        )
        await uow.ledger.post(ledger.authorization(hold, intent.id))
        if attempt.capture:
            await uow.ledger.post(ledger.capture(hold, intent.id, hold.money))
        assert attempt.charge_id is not None
        intent.authorized(attempt.charge_id, capture_before=clock.now() + capture_window)
        return
    if attempt.kind is AttemptKind.VOID and intent.status is Status.REQUIRES_ACTION:
        # Canceled while the customer was still on the PSP's page: nothing was ever held.
        await _close_waiting_authorization(uow, intent)
        intent.canceled(attempt.reason, clock.now())
        return
    open_hold = await uow.ledger.open_hold(intent.id)
    assert open_hold is not None, "a requires_capture intent always has an open hold"
    hold = open_hold
    if attempt.kind is AttemptKind.CAPTURE:
        await uow.ledger.post(
            ledger.capture(hold, intent.id, Money(attempt.amount, attempt.currency))
        )
        intent.captured(attempt.amount)
    else:
        # Stripe's cancellation_reason "automatic" is an authorization that ran out of time.
        expired = attempt.reason == AUTOMATIC
        kind = JournalKind.EXPIRY if expired else JournalKind.VOID
        await uow.ledger.post(ledger.void(hold, intent.id, kind=kind))
        trigger = Trigger.EXPIRE if expired else Trigger.CANCEL
        intent.canceled(attempt.reason, clock.now(), trigger=trigger)


async def _close_waiting_authorization(uow: UnitOfWork, intent: PaymentIntent) -> None:
    for waiting in await uow.attempts.for_intent(intent.id):
        if waiting.kind is AttemptKind.AUTHORIZE and waiting.status.is_open:
            locked = await uow.attempts.get(waiting.id, lock=True)
            locked.status = AttemptStatus.FAILED
            locked.error = {"outcome": "canceled", "code": "payment_intent_canceled"}
            await uow.attempts.save(locked)


def _payment_error(result: PspResult, payment_method: str | None) -> PaymentError:
    return PaymentError(
        type=result.error_type,
        code=result.error_code or "card_declined",
        decline_code=result.decline_code,
        message=result.message or "Your card was declined.",
        payment_method=payment_method,
        payment_method_type=type_of(payment_method) if payment_method else None,
    )


async def render(uow: UnitOfWork, intent: PaymentIntent, attempt: Attempt) -> Response:
    """The HTTP answer to the request that made `attempt`, given where things stand now."""
    if attempt.refund_id is not None:
        refund = await uow.refunds.get(None, attempt.refund_id)
        return render_attempt(refund.as_stripe_object(), attempt)
    return render_attempt(intent.as_stripe_object(), attempt)


def render_attempt(obj: dict[str, Any], attempt: Attempt) -> Response:
    """Render an attempt's outcome around `obj`, the object the request was about."""
    about = {obj["object"]: obj}
    if attempt.status is AttemptStatus.SUCCEEDED or (
        attempt.status.is_open and not attempt.status.in_doubt
    ):
        return Response(200, obj)  # succeeded, or waiting for the customer or the PSP
    if attempt.status.in_doubt:
        return Response(
            502,
            error_body(
                PspUnavailable(
                    "The payment processor did not answer in time. Payplane is confirming the "
                    "outcome with it; retry with the same Idempotency-Key or retrieve the "
                    "object later.",
                    code="psp_outcome_unknown",
                )
            ),
        )
    error = attempt.error or {}
    if (
        error.get("outcome") == PspOutcome.DECLINED.value
        and attempt.kind is AttemptKind.AUTHORIZE
        and error.get("type", "card_error") != "card_error"
    ):
        # Failed authentication or a non-card method's failure: Stripe answers 400, not 402.
        failed = InvalidRequest(
            error.get("message") or "The payment failed.", code=error.get("code")
        )
        return Response(400, error_body(failed, **about))
    if error.get("outcome") == PspOutcome.DECLINED.value and attempt.kind is AttemptKind.AUTHORIZE:
        card_error = CardError(
            error.get("message") or "Your card was declined.",
            code=error.get("code") or "card_declined",
            decline_code=error.get("decline_code"),
        )
        return Response(402, error_body(card_error, charge=attempt.charge_id, **about))
    if error.get("outcome") == PspOutcome.DECLINED.value:
        refused = PspRefused(
            error.get("message") or "The payment processor refused.", code=error.get("code")
        )
        return Response(400, error_body(refused, **about))
    return Response(
        502,
        error_body(
            PspUnavailable(
                "The payment processor could not be reached and did nothing: nothing was charged "
                "or refunded. Try again.",
                code="psp_unavailable",
            )
        ),
    )


def charge_object(intent: PaymentIntent, attempt: Attempt) -> dict[str, Any]:
    """The charge behind intent.latest_charge, as the charge.* events carry it."""
    error = (attempt.error or {}) if attempt.status is AttemptStatus.FAILED else {}
    return intent.as_charge_object(
        payment_method=attempt.payment_method,
        failure_code=error.get("code"),
        failure_message=error.get("message"),
    )
