"""A PSP call: committed before it is made, so a crash at any point can be resumed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class AttemptKind(StrEnum):
    AUTHORIZE = "authorize"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"
    REFUND_CANCEL = "refund_cancel"


class AttemptStatus(StrEnum):
    PENDING = "pending"  # committed, the PSP call may or may not have been sent
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # a decline, or the PSP refused before doing anything
    UNKNOWN = "unknown"  # sent, no answer: only the PSP can say what happened
    # The PSP answered, but not finally: the customer must act on a page of the PSP's first
    # (3-D Secure, wallet or bank redirect), or the PSP reports the result later (bank debits).
    REQUIRES_ACTION = "requires_action"
    AWAITING = "awaiting"

    @property
    def is_open(self) -> bool:
        """Not final yet: a later fact (answer, webhook, status check) may still close it."""
        return self in _OPEN

    @property
    def in_doubt(self) -> bool:
        """Whether the PSP got (or did) the call at all is unknown: only a lookup can tell."""
        return self in (AttemptStatus.PENDING, AttemptStatus.UNKNOWN)


_OPEN = frozenset(
    {
        AttemptStatus.PENDING,
        AttemptStatus.UNKNOWN,
        AttemptStatus.REQUIRES_ACTION,
        AttemptStatus.AWAITING,
    }
)


@dataclass(slots=True)
class Attempt:
    id: str
    payment_intent_id: str
    merchant_id: str
    kind: AttemptKind
    status: AttemptStatus
    connector: str
    psp_idempotency_key: str
    amount: int
    currency: str
    payment_method: str | None = None
    capture: bool = False  # authorize and capture in one PSP call (capture_method automatic)
    reason: str | None = None  # why the call was made, e.g. a void's cancellation_reason
    psp_reference: str | None = None
    charge_id: str | None = None
    refund_id: str | None = None
    error: dict[str, Any] | None = None
    # Where the customer must go while REQUIRES_ACTION (the PSP's hosted page), and where the
    # PSP sends them back to (Payplane's return endpoint for this attempt).
    redirect_url: str | None = None
    return_url: str | None = None
