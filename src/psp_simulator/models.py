"""The records the simulator keeps and the outcome every mutating operation produces."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

from psp_simulator.cards import Decline
from psp_simulator.payment_methods import ACTION_EXPIRED, Product

# requires_action waits for the customer on a hosted page; pending waits for the bank.
Status = Literal["requires_action", "pending", "authorized", "captured", "voided", "declined"]
STATUSES: tuple[Status, ...] = (
    "requires_action",
    "pending",
    "authorized",
    "captured",
    "voided",
    "declined",
)


@dataclass(slots=True)
class Authorization:
    id: str
    merchant_reference: str
    amount: int
    currency: str
    status: Status
    captured_amount: int
    payment_method: str
    decline: Decline | None
    created: int
    product: Product
    # The hosted page, for a payment that needs its customer: next_action while it waits.
    page_url: str | None
    return_url: str | None
    # Unix seconds after which a payment still waiting for its customer is declined.
    expires_at: float | None
    # The rest stays internal: what the PSP does once the customer and the bank are done.
    capture: bool
    final_decline: Decline | None
    settle_seconds: float | None
    # When a pending payment settles.
    due_at: float | None
    # Of the create operation: the events of changes made by the customer, the bank or the clock
    # carry it, as they continue what that operation started.
    idempotency_key: str | None

    def to_json(self) -> dict[str, object]:
        waiting = self.status == "requires_action"
        return {
            "id": self.id,
            "object": "authorization",
            "status": self.status,
            "product": self.product,
            "amount": self.amount,
            "currency": self.currency,
            "captured_amount": self.captured_amount,
            "merchant_reference": self.merchant_reference,
            "payment_method": self.payment_method,
            "decline": None if self.decline is None else self.decline.to_json(),
            "next_action": {"type": "redirect", "url": self.page_url} if waiting else None,
            # Rounded up, so that from expires_at on the payment is sure to be declined.
            "expires_at": (
                math.ceil(self.expires_at) if waiting and self.expires_at is not None else None
            ),
            "created": self.created,
        }

    def proceed(self, now: float) -> None:
        """Go on once the customer has approved (or had nothing to do): to the bank, or the end."""
        if self.settle_seconds is None:
            self.finish()
        else:
            self.status = "pending"
            self.due_at = now + self.settle_seconds

    def finish(self) -> None:
        """The issuer's or bank's final answer."""
        if self.final_decline is not None:
            self.decline_with(self.final_decline)
        elif self.capture:
            self.status = "captured"
            self.captured_amount = self.amount
        else:
            self.status = "authorized"

    def decline_with(self, decline: Decline) -> None:
        self.status = "declined"
        self.decline = decline

    def come_due(self) -> None:
        """What the clock does: an unanswered payment expires, a pending one settles."""
        if self.status == "requires_action":
            self.decline_with(ACTION_EXPIRED)
        else:
            self.finish()

    @property
    def expired(self) -> bool:
        return self.decline == ACTION_EXPIRED


RefundStatus = Literal["pending", "succeeded", "failed", "canceled"]
REFUND_STATUSES: tuple[RefundStatus, ...] = ("pending", "succeeded", "failed", "canceled")
# The only way a simulated refund fails: the merchant's balance at the PSP cannot cover it.
INSUFFICIENT_FUNDS = "insufficient_funds"


@dataclass(slots=True)
class Refund:
    id: str
    authorization_id: str
    amount: int
    currency: str
    status: RefundStatus
    failure_reason: str | None
    created: int
    # A pending refund settles to final_status once due_at (unix seconds) has passed; both stay
    # internal so the answer only ever shows what the PSP would report at that moment.
    due_at: float | None
    final_status: RefundStatus | None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "object": "refund",
            "authorization": self.authorization_id,
            "amount": self.amount,
            "currency": self.currency,
            "status": self.status,
            "failure_reason": self.failure_reason,
            "created": self.created,
        }


DisputeStatus = Literal[
    "warning_needs_response",
    "warning_under_review",
    "warning_closed",
    "needs_response",
    "under_review",
    "won",
    "lost",
]
DISPUTE_STATUSES: tuple[DisputeStatus, ...] = (
    "warning_needs_response",
    "warning_under_review",
    "warning_closed",
    "needs_response",
    "under_review",
    "won",
    "lost",
)


@dataclass(slots=True)
class Dispute:
    id: str
    authorization_id: str
    merchant_reference: str
    amount: int
    currency: str
    reason: str
    status: DisputeStatus
    fee: int
    evidence: dict[str, str]
    evidence_submitted: bool
    evidence_due_by: int
    created: int
    # Assigned by the store on every save, from one counter shared by all disputes.
    change_seq: int

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "object": "dispute",
            "authorization": self.authorization_id,
            "merchant_reference": self.merchant_reference,
            "amount": self.amount,
            "currency": self.currency,
            "reason": self.reason,
            "status": self.status,
            "fee": self.fee,
            "evidence": self.evidence,
            "evidence_submitted": self.evidence_submitted,
            "evidence_due_by": self.evidence_due_by,
            "created": self.created,
            "change_seq": self.change_seq,
        }


class Outcome(NamedTuple):
    """The HTTP answer of an executed operation, stored verbatim for idempotent replays."""

    status_code: int
    body: dict[str, object]
