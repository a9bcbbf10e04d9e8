"""Payments that wait: for a customer on a PSP's page (3-D Secure, wallet, bank redirect), or for
the PSP's later result (bank redirects after approval, bank debits).

Three facts can finish such a payment, in any order and each possibly twice: the PSP's webhook
(the inbox), the customer coming back through Payplane's return endpoint, and the follow-up job
asking the PSP's status API. All of them end in orchestrator.apply_result with the intent and the
attempt locked, so the first closes the attempt and the rest find nothing to do. Payplane never
trusts what the customer's browser says about the outcome: a return only triggers a status check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from payplane.domain.attempt import Attempt, AttemptKind
from payplane.domain.errors import ResourceMissing
from payplane.domain.ids import new_id
from payplane.domain.payment_intent import PaymentIntent, Status
from payplane.services import orchestrator
from payplane.services.ports import PspOutcome, PspResult, RequestContext
from payplane.services.runner import AttemptRunner

RETURN_ACTOR = "system:customer_return"
FOLLOW_ACTOR = "system:action_follow"
# Stripe's redirect_status values; requires_action is Payplane's for a customer who came back
# without finishing (they may still finish until the action expires).
_REDIRECT_STATUS = {
    Status.SUCCEEDED: "succeeded",
    Status.REQUIRES_CAPTURE: "succeeded",
    Status.PROCESSING: "processing",
    Status.REQUIRES_ACTION: "requires_action",
}


@dataclass(frozen=True, slots=True)
class CustomerReturn:
    redirect_to: str | None  # the merchant's return_url with Stripe's query parameters
    payment_intent: dict[str, Any]


class CustomerActions:
    def __init__(self, runner: AttemptRunner, *, action_expiry_seconds: float) -> None:
        self._runner = runner
        self._expiry = action_expiry_seconds

    async def returned(self, attempt_id: str) -> CustomerReturn:
        """The customer is back from the PSP's page: check with the PSP, then send them on."""
        async with self._runner.uow() as uow:
            try:
                attempt = await uow.attempts.get(attempt_id)
            except LookupError:
                raise ResourceMissing("payment attempt", attempt_id) from None
        if attempt.kind is not AttemptKind.AUTHORIZE:
            raise ResourceMissing("payment attempt", attempt_id)
        if attempt.status.is_open and not attempt.status.in_doubt:
            assert attempt.psp_reference is not None
            connector = self._runner.connectors.get(attempt.connector)
            result = await connector.authorization_status(attempt.psp_reference)
            await self._apply(attempt, result, RETURN_ACTOR)
        async with self._runner.uow() as uow:
            intent = await uow.intents.get(None, attempt.payment_intent_id)
        return CustomerReturn(merchant_return_url(intent), intent.as_stripe_object())

    async def follow(self, *, limit: int) -> int:
        """Ask the PSP about waiting attempts whose check is due; expire abandoned actions.
        Returns how many attempts moved."""
        async with self._runner.uow() as uow:
            due = await uow.attempts.waiting_due(limit=limit, action_expiry_seconds=self._expiry)
            await uow.commit()
        moved = 0
        for waiting in due:
            attempt = waiting.attempt
            assert attempt.psp_reference is not None
            connector = self._runner.connectors.get(attempt.connector)
            if waiting.expired:
                result = await connector.expire_action(
                    idempotency_key=f"{attempt.psp_idempotency_key}_expire",
                    psp_reference=attempt.psp_reference,
                )
            else:
                result = await connector.authorization_status(attempt.psp_reference)
            moved += await self._apply(attempt, result, FOLLOW_ACTOR)
        return moved

    async def _apply(self, attempt: Attempt, result: PspResult, actor: str) -> bool:
        if result.outcome in (PspOutcome.UNKNOWN, PspOutcome.NOT_APPLIED):
            return False  # the PSP could not say: the next check asks again
        ctx = RequestContext(attempt.merchant_id, actor, new_id("req"))
        async with self._runner.uow() as uow:
            intent = await uow.intents.get(None, attempt.payment_intent_id, lock=True)
            locked = await uow.attempts.get(attempt.id, lock=True)
            before = locked.status
            await orchestrator.apply_result(
                uow,
                ctx,
                self._runner.clock,
                intent,
                locked,
                result,
                capture_window=self._runner.capture_window,
            )
            await uow.commit()
        return locked.status is not before


def merchant_return_url(intent: PaymentIntent) -> str | None:
    """Stripe's return: ?payment_intent=&payment_intent_client_secret=&redirect_status=."""
    if intent.return_url is None:
        return None
    parts = urlsplit(intent.return_url)
    query = urlencode(
        {
            "payment_intent": intent.id,
            "payment_intent_client_secret": intent.client_secret or "",
            "redirect_status": _REDIRECT_STATUS.get(intent.status, "failed"),
        }
    )
    joined = f"{parts.query}&{query}" if parts.query else query
    return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, parts.fragment))
