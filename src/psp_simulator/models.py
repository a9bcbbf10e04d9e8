"""The records the simulator keeps and the outcome every mutating operation produces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from psp_simulator.cards import Decline

Status = Literal["authorized", "captured", "voided", "declined"]
STATUSES: tuple[Status, ...] = ("authorized", "captured", "voided", "declined")


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

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "object": "authorization",
            "status": self.status,
            "amount": self.amount,
            "currency": self.currency,
            "captured_amount": self.captured_amount,
            "merchant_reference": self.merchant_reference,
            "payment_method": self.payment_method,
            "decline": None if self.decline is None else self.decline.to_json(),
            "created": self.created,
        }


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
