"""Approval requests: four eyes, one decision, idempotent repeats (pure)."""

from __future__ import annotations

import pytest

from payplane.domain.approval import REFUND_CREATE, ApprovalRequest, ApprovalStatus
from payplane.domain.errors import PermissionDenied, UnexpectedState


def _pending() -> ApprovalRequest:
    return ApprovalRequest(
        id="apr_1",
        merchant_id="acct_1",
        action=REFUND_CREATE,
        params={"payment_intent": "pi_1", "amount": 150_000},
        status=ApprovalStatus.PENDING,
        requested_by="operator:opr_maker",
        request_id="req_1",
        created=1_700_000_000,
    )


def test_the_requester_cannot_approve() -> None:
    request = _pending()
    with pytest.raises(PermissionDenied, match="You requested apr_1 yourself") as caught:
        request.approve("operator:opr_maker", 1_700_000_100)
    assert caught.value.code == "approval_by_requester"
    assert caught.value.http_status == 403
    assert request.status is ApprovalStatus.PENDING


def test_approving_twice_decides_once() -> None:
    request = _pending()
    assert request.approve("operator:opr_checker", 1_700_000_100)
    assert not request.approve("operator:opr_other", 1_700_000_200)
    assert (request.status, request.decided_by, request.decided_at) == (
        ApprovalStatus.APPROVED,
        "operator:opr_checker",
        1_700_000_100,
    )
    with pytest.raises(UnexpectedState, match="approved by operator:opr_checker already"):
        request.deny("operator:opr_other", 1_700_000_300, "too late")


def test_a_denied_request_stays_denied() -> None:
    request = _pending()
    assert request.deny("operator:opr_checker", 1_700_000_100, "customer withdrew")
    assert not request.deny("operator:opr_other", 1_700_000_200, None)
    assert request.reason == "customer withdrew"
    with pytest.raises(UnexpectedState, match="was denied"):
        request.approve("operator:opr_other", 1_700_000_300)


def test_the_outcome_is_kept_on_the_request() -> None:
    request = _pending()
    request.approve("operator:opr_checker", 1_700_000_100)
    assert not request.executed
    request.record_outcome(1_700_000_101, result={"id": "re_1", "object": "refund"}, error=None)
    shown = request.as_stripe_object()
    assert request.executed
    assert shown["object"] == "approval_request"
    assert shown["status"] == "approved"
    assert shown["result"] == {"id": "re_1", "object": "refund"}
    assert shown["requested_by"] == "operator:opr_maker"
    assert shown["executed_at"] == 1_700_000_101
