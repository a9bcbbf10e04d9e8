"""The dispute state machine: Stripe's statuses followed only forwards, and the money each
change moves (withdrawn once, reinstated once when won, final when lost)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payplane.domain.dispute import CLOSED, Dispute, DisputeStatus, MoneyEffect
from payplane.domain.errors import UnexpectedState

S = DisputeStatus


def make_dispute(status: DisputeStatus = S.NEEDS_RESPONSE, **fields: Any) -> Dispute:
    values: dict[str, Any] = {
        "id": "dp_test",
        "merchant_id": "mer_test",
        "payment_intent_id": "pi_test",
        "amount": 5000,
        "currency": "usd",
        "reason": "fraudulent",
        "status": status,
        "connector": "simulator",
        "psp_dispute_id": "psd_test",
        "psp_change_seq": 1,
        "created": 1_750_000_000,
        "fee": 1500,
    }
    values.update(fields)
    return Dispute(**values)


def opened(status: DisputeStatus) -> Dispute:
    dispute = make_dispute(status)
    dispute.opened()
    dispute.events.clear()
    return dispute


def test_a_chargeback_withdraws_funds_when_it_opens() -> None:
    dispute = make_dispute(S.NEEDS_RESPONSE)
    assert dispute.opened() is MoneyEffect.WITHDRAW
    assert dispute.funds_withdrawn
    assert dispute.events == ["charge.dispute.created", "charge.dispute.funds_withdrawn"]


def test_an_inquiry_opens_without_moving_money() -> None:
    dispute = make_dispute(S.WARNING_NEEDS_RESPONSE, fee=0)
    assert dispute.opened() is MoneyEffect.NONE
    assert not dispute.funds_withdrawn
    assert dispute.events == ["charge.dispute.created"]


def test_a_stale_change_is_ignored() -> None:
    dispute = opened(S.NEEDS_RESPONSE)
    assert dispute.follow(S.UNDER_REVIEW, 5) is MoneyEffect.NONE
    for seq in (5, 4, 1):
        assert dispute.follow(S.WON, seq) is None
    assert dispute.status is S.UNDER_REVIEW
    assert dispute.psp_change_seq == 5
    assert dispute.funds_withdrawn
    assert dispute.events == ["charge.dispute.updated"]


def test_a_backwards_move_is_ignored_but_the_change_counts_as_seen() -> None:
    dispute = opened(S.UNDER_REVIEW)
    assert dispute.follow(S.NEEDS_RESPONSE, 2) is None
    assert dispute.follow(S.WARNING_NEEDS_RESPONSE, 3) is None
    assert dispute.status is S.UNDER_REVIEW
    assert dispute.psp_change_seq == 3
    assert dispute.events == []


def test_a_newer_change_with_the_same_status_moves_nothing() -> None:
    dispute = opened(S.NEEDS_RESPONSE)
    assert dispute.follow(S.NEEDS_RESPONSE, 7) is MoneyEffect.NONE
    assert dispute.psp_change_seq == 7
    assert dispute.events == []


def test_an_escalated_inquiry_withdraws_once() -> None:
    dispute = opened(S.WARNING_NEEDS_RESPONSE)
    assert dispute.follow(S.WARNING_UNDER_REVIEW, 2) is MoneyEffect.NONE
    assert dispute.follow(S.NEEDS_RESPONSE, 3) is MoneyEffect.WITHDRAW
    assert dispute.follow(S.UNDER_REVIEW, 4) is MoneyEffect.NONE
    assert dispute.follow(S.LOST, 5) is MoneyEffect.NONE
    assert dispute.funds_withdrawn
    assert dispute.events == [
        "charge.dispute.updated",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.updated",
        "charge.dispute.updated",
        "charge.dispute.closed",
    ]


def test_a_won_dispute_reinstates_once() -> None:
    dispute = opened(S.NEEDS_RESPONSE)
    assert dispute.follow(S.UNDER_REVIEW, 2) is MoneyEffect.NONE
    assert dispute.follow(S.WON, 3) is MoneyEffect.REINSTATE
    assert not dispute.funds_withdrawn
    assert dispute.follow(S.WON, 4) is MoneyEffect.NONE
    assert dispute.follow(S.LOST, 5) is None
    assert dispute.status is S.WON
    assert dispute.events == [
        "charge.dispute.updated",
        "charge.dispute.funds_reinstated",
        "charge.dispute.closed",
    ]


def test_a_lost_dispute_is_final() -> None:
    dispute = opened(S.NEEDS_RESPONSE)
    assert dispute.follow(S.LOST, 2) is MoneyEffect.NONE
    assert dispute.events == ["charge.dispute.closed"]
    for status, seq in ((S.WON, 3), (S.UNDER_REVIEW, 4), (S.NEEDS_RESPONSE, 5)):
        assert dispute.follow(status, seq) is None
    assert dispute.status is S.LOST
    assert dispute.funds_withdrawn


def test_a_dispute_first_seen_lost_withdraws() -> None:
    dispute = make_dispute(S.LOST)
    assert dispute.opened() is MoneyEffect.WITHDRAW


def test_a_closed_inquiry_never_moved_money() -> None:
    dispute = opened(S.WARNING_NEEDS_RESPONSE)
    assert dispute.follow(S.WARNING_CLOSED, 2) is MoneyEffect.NONE
    assert dispute.follow(S.NEEDS_RESPONSE, 3) is None
    assert not dispute.funds_withdrawn
    assert dispute.events == ["charge.dispute.closed"]


@pytest.mark.parametrize("status", sorted(CLOSED))
def test_actions_on_a_closed_dispute_are_refused(status: DisputeStatus) -> None:
    dispute = make_dispute(status)
    with pytest.raises(UnexpectedState) as raised:
        dispute.check_open("update")
    assert raised.value.code == "dispute_already_closed"
    assert raised.value.http_status == 400
    assert status.value in raised.value.message


@pytest.mark.parametrize("status", sorted(set(DisputeStatus) - CLOSED))
def test_actions_on_an_open_dispute_are_allowed(status: DisputeStatus) -> None:
    make_dispute(status).check_open("close")


def test_stripe_object() -> None:
    dispute = make_dispute(
        S.UNDER_REVIEW,
        charge="ch_1",
        evidence={"customer_name": "Jane"},
        submission_count=1,
        evidence_due_by=1_750_600_000,
        metadata={"case": "7"},
    )
    obj = dispute.as_stripe_object()
    assert obj["object"] == "dispute"
    assert (obj["id"], obj["charge"], obj["payment_intent"]) == ("dp_test", "ch_1", "pi_test")
    assert (obj["amount"], obj["currency"], obj["status"]) == (5000, "usd", "under_review")
    assert obj["evidence"] == {"customer_name": "Jane"}
    assert obj["evidence_details"] == {
        "due_by": 1_750_600_000,
        "has_evidence": True,
        "past_due": False,
        "submission_count": 1,
    }
    assert obj["metadata"] == {"case": "7"}


@given(
    first=st.sampled_from(list(DisputeStatus)),
    changes=st.lists(st.tuples(st.sampled_from(list(DisputeStatus)), st.integers(0, 30))),
)
def test_money_always_matches_the_status(
    first: DisputeStatus, changes: list[tuple[DisputeStatus, int]]
) -> None:
    """Whatever the PSP reports, in whatever order: funds are withdrawn at most once more than
    reinstated, exactly while the status says so, and a closed dispute never changes."""
    dispute = make_dispute(first)
    effects = [dispute.opened()]
    for status, seq in changes:
        was = (dispute.status, dispute.psp_change_seq)
        effect = dispute.follow(status, seq)
        effects.append(effect or MoneyEffect.NONE)
        if was[0] in CLOSED:
            assert dispute.status is was[0]
        if seq <= was[1]:
            assert effect is None
            assert (dispute.status, dispute.psp_change_seq) == was
    withdrawn = effects.count(MoneyEffect.WITHDRAW) - effects.count(MoneyEffect.REINSTATE)
    assert withdrawn == int(dispute.funds_withdrawn)
    assert effects.count(MoneyEffect.REINSTATE) <= 1
    assert effects.count(MoneyEffect.WITHDRAW) <= 1
    if dispute.status in (S.NEEDS_RESPONSE, S.UNDER_REVIEW, S.LOST):
        assert dispute.funds_withdrawn
    if dispute.status is S.WON or dispute.status.value.startswith("warning_"):
        assert not dispute.funds_withdrawn


def test_a_dispute_first_seen_won_still_books_its_fee() -> None:
    """Opened and won between two polls: the PSP withdrew, charged its fee and reinstated."""
    dispute = make_dispute(S.WON, fee=1500)
    assert dispute.opened() is MoneyEffect.WITHDRAW_AND_REINSTATE
    assert dispute.funds_withdrawn is False
    assert dispute.events == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
    ]
