"""Refunds: their statuses and when their money is booked or reversed."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from payplane.domain.errors import UnexpectedState


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


# Stripe's refunds can fail even after succeeding (the bank returns the money).
_NEXT: dict[RefundStatus, frozenset[RefundStatus]] = {
    RefundStatus.PENDING: frozenset(
        {RefundStatus.SUCCEEDED, RefundStatus.FAILED, RefundStatus.CANCELED}
    ),
    RefundStatus.SUCCEEDED: frozenset({RefundStatus.FAILED}),
    RefundStatus.FAILED: frozenset(),
    RefundStatus.CANCELED: frozenset(),
}


@dataclass(slots=True)
class Refund:
    id: str
    merchant_id: str
    payment_intent_id: str
    amount: int
    currency: str
    status: RefundStatus
    connector: str
    created: int
    charge: str | None = None
    reason: str | None = None
    failure_reason: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    psp_reference: str | None = None
    booked: bool = False  # the refund journal is posted (the PSP accepted it)
    events: list[str] = field(default_factory=list)

    def can_move_to(self, status: RefundStatus) -> bool:
        return status in _NEXT[self.status]

    def move_to(self, status: RefundStatus, failure_reason: str | None = None) -> bool:
        """Apply a status the PSP reported; False (and no change) if it would go backwards."""
        if status is self.status or not self.can_move_to(status):
            return False
        self.status = status
        if status is RefundStatus.FAILED:
            self.failure_reason = failure_reason or "unknown"
            self.events.append("refund.failed")
        self.events.append("refund.updated")
        return True

    def check_cancel(self) -> None:
        if self.status is not RefundStatus.PENDING:
            raise UnexpectedState(
                f"You cannot cancel this refund because it has a status of {self.status.value}. "
                "Only a pending refund may be canceled.",
                code="refund_unexpected_state",
            )

    @property
    def holds_funds(self) -> bool:
        """Pending and succeeded refunds count against what is left to refund."""
        return self.status in (RefundStatus.PENDING, RefundStatus.SUCCEEDED)

    def as_stripe_object(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "refund",
            "amount": self.amount,
            "balance_transaction": None,
            "charge": self.charge,
            "created": self.created,
            "currency": self.currency,
            "failure_reason": self.failure_reason,
            "metadata": dict(self.metadata),
            "payment_intent": self.payment_intent_id,
            "reason": self.reason,
            "status": self.status.value,
        }
