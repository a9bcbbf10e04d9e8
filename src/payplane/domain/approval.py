"""Maker-checker: an action one person requests and another approves before it runs.

The request keeps the action's parameters as they will run (a refund's amount is resolved when
it is requested, so the approver sees exactly what will move). Approving runs the action once;
its result or its error is kept on the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from payplane.domain.errors import PermissionDenied, UnexpectedState

REFUND_CREATE = "refund.create"
REMEDIATION_WRITE_OFF = "remediation.write_off"


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"


@dataclass(slots=True)
class ApprovalRequest:
    id: str
    merchant_id: str
    action: str
    params: dict[str, Any]
    status: ApprovalStatus
    requested_by: str
    request_id: str
    created: int
    decided_by: str | None = None
    decided_at: int | None = None
    reason: str | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    executed_at: int | None = None

    def approve(self, actor: str, at: int) -> bool:
        """True when this call approved it; False when it was approved already."""
        if actor == self.requested_by:
            raise PermissionDenied(
                f"You requested {self.id} yourself, so you cannot approve it: another operator "
                "with the operations role must.",
                code="approval_by_requester",
            )
        if self.status is ApprovalStatus.DENIED:
            raise UnexpectedState(
                f"Approval request {self.id} was denied by {self.decided_by}; it cannot be "
                "approved any more.",
                code="approval_request_unexpected_state",
            )
        if self.status is ApprovalStatus.APPROVED:
            return False
        self._decide(ApprovalStatus.APPROVED, actor, at)
        return True

    def deny(self, actor: str, at: int, reason: str | None) -> bool:
        """True when this call denied it; False when it was denied already."""
        if self.status is ApprovalStatus.APPROVED:
            raise UnexpectedState(
                f"Approval request {self.id} was approved by {self.decided_by} already; it "
                "cannot be denied.",
                code="approval_request_unexpected_state",
            )
        if self.status is ApprovalStatus.DENIED:
            return False
        self._decide(ApprovalStatus.DENIED, actor, at)
        self.reason = reason
        return True

    def _decide(self, status: ApprovalStatus, actor: str, at: int) -> None:
        self.status = status
        self.decided_by = actor
        self.decided_at = at

    @property
    def executed(self) -> bool:
        return self.executed_at is not None

    def record_outcome(
        self, at: int, *, result: dict[str, Any] | None, error: dict[str, Any] | None
    ) -> None:
        self.result = result
        self.error = error
        self.executed_at = at

    def as_stripe_object(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "approval_request",
            "action": self.action,
            "params": self.params,
            "status": self.status.value,
            "requested_by": self.requested_by,
            "created": self.created,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at,
            "reason": self.reason,
            "result": self.result,
            "error": self.error,
            "executed_at": self.executed_at,
            "livemode": False,
        }
