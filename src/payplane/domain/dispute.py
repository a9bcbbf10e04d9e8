"""Disputes (chargebacks and inquiries): Stripe's statuses and what each change does to money.

The PSP decides a dispute's status; we follow it, but only forwards, and the ledger moves when
funds are withdrawn (a chargeback opens, or an inquiry escalates) and reinstated (won).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from payplane.domain.errors import UnexpectedState


class DisputeStatus(StrEnum):
    WARNING_NEEDS_RESPONSE = "warning_needs_response"
    WARNING_UNDER_REVIEW = "warning_under_review"
    WARNING_CLOSED = "warning_closed"
    NEEDS_RESPONSE = "needs_response"
    UNDER_REVIEW = "under_review"
    WON = "won"
    LOST = "lost"


CLOSED = frozenset({DisputeStatus.WON, DisputeStatus.LOST, DisputeStatus.WARNING_CLOSED})
# Statuses in which the disputed amount is (or stays, when lost) taken from the merchant.
WITHDRAWN = frozenset(
    {DisputeStatus.NEEDS_RESPONSE, DisputeStatus.UNDER_REVIEW, DisputeStatus.LOST}
)

_FORWARD: dict[DisputeStatus, frozenset[DisputeStatus]] = {
    DisputeStatus.WARNING_NEEDS_RESPONSE: frozenset(
        {
            DisputeStatus.WARNING_UNDER_REVIEW,
            DisputeStatus.WARNING_CLOSED,
            DisputeStatus.NEEDS_RESPONSE,
            DisputeStatus.UNDER_REVIEW,
            DisputeStatus.WON,
            DisputeStatus.LOST,
        }
    ),
    DisputeStatus.WARNING_UNDER_REVIEW: frozenset(
        {
            DisputeStatus.WARNING_CLOSED,
            DisputeStatus.NEEDS_RESPONSE,
            DisputeStatus.UNDER_REVIEW,
            DisputeStatus.WON,
            DisputeStatus.LOST,
        }
    ),
    DisputeStatus.NEEDS_RESPONSE: frozenset(
        {
            DisputeStatus.UNDER_REVIEW,
            DisputeStatus.WON,
            DisputeStatus.LOST,
        }
    ),
    DisputeStatus.UNDER_REVIEW: frozenset({DisputeStatus.WON, DisputeStatus.LOST}),
    DisputeStatus.WARNING_CLOSED: frozenset(),
    DisputeStatus.WON: frozenset(),
    DisputeStatus.LOST: frozenset(),
}


class MoneyEffect(StrEnum):
    NONE = "none"
    WITHDRAW = "withdraw"  # post the chargeback (amount and fee)
    REINSTATE = "reinstate"  # post the chargeback reversal (amount only)
    # Won before we saw it withdrawn (changes arrived together): the fee was still charged.
    WITHDRAW_AND_REINSTATE = "withdraw_and_reinstate"


@dataclass(slots=True)
class Dispute:
    id: str
    merchant_id: str
    payment_intent_id: str
    amount: int
    currency: str
    reason: str
    status: DisputeStatus
    connector: str
    psp_dispute_id: str
    psp_change_seq: int
    created: int
    charge: str | None = None
    fee: int = 0
    evidence: dict[str, str] = field(default_factory=dict)
    submission_count: int = 0
    evidence_due_by: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    funds_withdrawn: bool = False
    events: list[str] = field(default_factory=list)

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED

    def check_open(self, action: str) -> None:
        if self.is_closed:
            raise UnexpectedState(
                f"You cannot {action} this dispute because it is already closed "
                f"(status {self.status.value}).",
                code="dispute_already_closed",
            )

    def money_effect_of(self, status: DisputeStatus) -> MoneyEffect:
        if status in WITHDRAWN and not self.funds_withdrawn:
            return MoneyEffect.WITHDRAW
        if status is DisputeStatus.WON:
            return (
                MoneyEffect.REINSTATE
                if self.funds_withdrawn
                else (MoneyEffect.WITHDRAW_AND_REINSTATE)
            )
        return MoneyEffect.NONE

    def follow(self, status: DisputeStatus, change_seq: int) -> MoneyEffect | None:
        """Take the PSP's newer status; None if the change is stale or not a forward move."""
        if change_seq <= self.psp_change_seq:
            return None
        self.psp_change_seq = change_seq
        if status is self.status:
            return MoneyEffect.NONE
        if status not in _FORWARD[self.status]:
            return None
        effect = self.money_effect_of(status)
        self.status = status
        self._record(effect)
        self.events.append("charge.dispute.closed" if self.is_closed else "charge.dispute.updated")
        return effect

    def opened(self) -> MoneyEffect:
        """A dispute seen for the first time: created, and funds withdrawn if a chargeback."""
        effect = self.money_effect_of(self.status)
        self.events.append("charge.dispute.created")
        self._record(effect)
        return effect

    def _record(self, effect: MoneyEffect) -> None:
        if effect is MoneyEffect.WITHDRAW:
            self.funds_withdrawn = True
            self.events.append("charge.dispute.funds_withdrawn")
        elif effect is MoneyEffect.REINSTATE:
            self.funds_withdrawn = False
            self.events.append("charge.dispute.funds_reinstated")
        elif effect is MoneyEffect.WITHDRAW_AND_REINSTATE:
            self.events += ["charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated"]

    def as_stripe_object(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "dispute",
            "amount": self.amount,
            "balance_transactions": [],
            "charge": self.charge,
            "created": self.created,
            "currency": self.currency,
            "evidence": dict(self.evidence),
            "evidence_details": {
                "due_by": self.evidence_due_by,
                "has_evidence": bool(self.evidence),
                "past_due": False,
                "submission_count": self.submission_count,
            },
            "is_charge_refundable": False,
            "livemode": False,
            "metadata": dict(self.metadata),
            "payment_intent": self.payment_intent_id,
            "reason": self.reason,
            "status": self.status.value,
        }
