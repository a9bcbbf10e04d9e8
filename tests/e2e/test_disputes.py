"""Disputes end to end: the simulator opens and rules on them, the worker's sync brings them in
with their ledger entries and events, and the merchant answers through the stripe SDK."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
import stripe
from tests.e2e.support import api, ledger_of, query, row_counts, stripe_client

DISPUTE_EVENTS = {
    "charge.dispute.created",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_reinstated",
}


def _captured(platform, amount: int = 5000, secret: str | None = None):
    return stripe_client(platform, secret).v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )


def _open_dispute(platform, intent_id: str, **body: Any) -> dict[str, Any]:
    """Open a dispute at the simulator on the authorization behind a captured payment."""
    (authorization,) = query(
        platform,
        "SELECT psp_reference FROM payment_attempts "
        "WHERE payment_intent_id = %s AND kind = 'authorize' AND status = 'succeeded'",
        intent_id,
    )
    response = httpx.post(
        f"{platform.simulator_url}/admin/disputes",
        json={"authorization": authorization["psp_reference"], **body},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


def _rule(platform, psp_dispute_id: str, status: str) -> None:
    httpx.post(
        f"{platform.simulator_url}/admin/disputes/{psp_dispute_id}/status",
        json={"status": status},
        timeout=10,
    ).raise_for_status()


def _at_psp(platform, psp_dispute_id: str) -> dict[str, Any]:
    response = httpx.get(
        f"{platform.simulator_url}/v1/disputes/{psp_dispute_id}",
        headers={"Authorization": f"Bearer {platform.simulator_api_key}"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


def _synced(client, intent_id: str, status: str, timeout: float = 10.0):
    """Poll GET /v1/disputes until the worker has brought the payment's dispute to `status`."""
    deadline = time.monotonic() + timeout
    while True:
        found = client.v1.disputes.list(params={"payment_intent": intent_id}).data
        if found and found[0].status == status:
            return found[0]
        if time.monotonic() > deadline:
            pytest.fail(f"no {status} dispute for {intent_id} after {timeout}s: {found}")
        time.sleep(0.25)


def _journals(platform, intent_id: str) -> list[tuple[str, str, str, int]]:
    """(journal kind, account purpose, direction, amount) of the payment's dispute entries."""
    return [
        (
            e["journal_kind"],
            e["account"].split(":", 1)[0] + ":" + e["account"].rsplit(":", 1)[1],
            e["direction"],
            e["amount"],
        )
        for e in ledger_of(platform, intent_id)
        if e["journal_kind"].startswith("chargeback")
    ]


def _net(platform, intent_id: str, purpose: str) -> int:
    """The merchant's balance on one account for this payment (credit positive)."""
    return sum(
        e["amount"] if e["direction"] == "credit" else -e["amount"]
        for e in ledger_of(platform, intent_id)
        if e["account"].startswith("merchant:") and e["account"].endswith(f":{purpose}")
    )


def _event_types(client, dispute_id: str) -> list[str]:
    events = client.v1.events.list(params={"limit": 100}).data
    return [e.type for e in reversed(events) if e.data.object.id == dispute_id]


def _withdrawn(amount: int, fee: int) -> list[tuple[str, str, str, int]]:
    return [
        ("chargeback", "merchant:payable", "debit", amount),
        ("chargeback", "psp:receivable", "credit", amount),
        ("chargeback", "merchant:fees", "debit", fee),
        ("chargeback", "psp:receivable", "credit", fee),
    ]


def test_chargeback_won_with_evidence(platform) -> None:
    client = stripe_client(platform)
    intent = _captured(platform, 5000)
    psd = _open_dispute(platform, intent.id, reason="product_not_received")
    fee = psd["fee"]
    assert (psd["status"], fee > 0) == ("needs_response", True)

    dispute = _synced(client, intent.id, "needs_response")
    assert dispute.id.startswith("dp_")
    assert (dispute.amount, dispute.currency, dispute.reason) == (
        5000,
        "usd",
        "product_not_received",
    )
    assert (dispute.charge, dispute.payment_intent) == (intent.latest_charge, intent.id)
    assert dispute.evidence_details.due_by == psd["evidence_due_by"]
    assert client.v1.disputes.retrieve(dispute.id) == dispute
    # Funds withdrawn: the disputed amount from what the merchant is owed, the fee apart.
    assert _journals(platform, intent.id) == _withdrawn(5000, fee)
    assert (_net(platform, intent.id, "payable"), _net(platform, intent.id, "fees")) == (0, -fee)

    evidence = {"product_description": "A blue lamp", "shipping_tracking_number": "1Z999"}
    with api(platform) as http:
        body = {
            "evidence[product_description]": evidence["product_description"],
            "evidence[shipping_tracking_number]": evidence["shipping_tracking_number"],
            "metadata[case]": "42",
        }
        key = {"Idempotency-Key": str(uuid.uuid4())}
        first = http.post(f"/v1/disputes/{dispute.id}", data=body, headers=key)
        replay = http.post(f"/v1/disputes/{dispute.id}", data=body, headers=key)
    assert first.status_code == 200, first.text
    submitted = first.json()
    assert submitted["status"] == "under_review"  # submit defaults to true, as at Stripe
    assert submitted["evidence"] == evidence
    assert submitted["metadata"] == {"case": "42"}
    assert submitted["evidence_details"]["submission_count"] == 1
    assert (replay.status_code, replay.json()) == (200, submitted)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert _at_psp(platform, psd["id"])["evidence"] == evidence

    _rule(platform, psd["id"], "won")
    won = _synced(client, intent.id, "won")
    assert won.metadata.to_dict() == {"case": "42"}
    assert won.evidence_details.submission_count == 1
    # Reinstated: the amount comes back, the fee stays charged.
    assert _journals(platform, intent.id) == [
        *_withdrawn(5000, fee),
        ("chargeback_reversal", "psp:receivable", "debit", 5000),
        ("chargeback_reversal", "merchant:payable", "credit", 5000),
    ]
    assert (_net(platform, intent.id, "payable"), _net(platform, intent.id, "fees")) == (5000, -fee)
    assert _event_types(client, dispute.id) == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.updated",
        "charge.dispute.funds_reinstated",
        "charge.dispute.closed",
    ]
    audit = query(
        platform, "SELECT actor, action FROM audit_log WHERE object_id = %s ORDER BY id", dispute.id
    )
    assert [(row["actor"].split(":")[0], row["action"]) for row in audit] == [
        ("system", "dispute.sync"),
        ("api_key", "dispute.update"),
        ("system", "dispute.sync"),
    ]


def test_accepting_a_chargeback_loses_it_and_closed_disputes_refuse_actions(platform) -> None:
    client = stripe_client(platform)
    intent = _captured(platform, 3000)
    psd = _open_dispute(platform, intent.id)
    dispute = _synced(client, intent.id, "needs_response")

    lost = client.v1.disputes.close(dispute.id)
    assert lost.status == "lost"
    assert _at_psp(platform, psd["id"])["status"] == "lost"
    # Lost is final: the chargeback stands and nothing is reversed.
    assert _journals(platform, intent.id) == _withdrawn(3000, psd["fee"])
    assert _event_types(client, dispute.id)[-1] == "charge.dispute.closed"

    before = (
        row_counts(platform, platform.merchant_id),
        query(platform, "SELECT * FROM disputes WHERE id = %s", dispute.id),
        _at_psp(platform, psd["id"]),
    )
    attempts = [
        lambda: client.v1.disputes.close(dispute.id),
        lambda: client.v1.disputes.update(dispute.id, params={"metadata": {"late": "yes"}}),
        lambda: client.v1.disputes.update(
            dispute.id, params={"evidence": {"customer_name": "Jane"}, "submit": False}
        ),
    ]
    for attempt in attempts:
        with pytest.raises(stripe.InvalidRequestError) as raised:
            attempt()
        assert raised.value.http_status == 400
        assert raised.value.code == "dispute_already_closed"
        assert "already closed (status lost)" in raised.value.user_message
    after = (
        row_counts(platform, platform.merchant_id),
        query(platform, "SELECT * FROM disputes WHERE id = %s", dispute.id),
        _at_psp(platform, psd["id"]),
    )
    assert after == before
    # The sync's later rounds leave it alone too.
    time.sleep(2.5)
    assert client.v1.disputes.retrieve(dispute.id) == lost


def test_inquiry_moves_no_money_until_it_escalates(platform) -> None:
    client = stripe_client(platform)
    intent = _captured(platform, 2500)
    psd = _open_dispute(platform, intent.id, inquiry=True, reason="unrecognized")
    assert (psd["status"], psd["fee"]) == ("warning_needs_response", 0)
    inquiry = _synced(client, intent.id, "warning_needs_response")
    assert _journals(platform, intent.id) == []
    assert _net(platform, intent.id, "payable") == 2500

    # Staged, not submitted: the status stays, nothing counts as a submission.
    staged = client.v1.disputes.update(
        inquiry.id, params={"evidence": {"customer_name": "Jane Roe"}, "submit": False}
    )
    assert staged.status == "warning_needs_response"
    assert staged.evidence.to_dict() == {"customer_name": "Jane Roe"}
    assert staged.evidence_details.submission_count == 0
    assert _at_psp(platform, psd["id"])["evidence_submitted"] is False

    _rule(platform, psd["id"], "needs_response")  # the issuer escalates into a chargeback
    escalated = _synced(client, intent.id, "needs_response")
    fee = _at_psp(platform, psd["id"])["fee"]
    assert fee > 0
    assert _journals(platform, intent.id) == _withdrawn(2500, fee)
    assert _net(platform, intent.id, "payable") == 0
    assert escalated.evidence.to_dict() == {"customer_name": "Jane Roe"}
    assert _event_types(client, inquiry.id) == [
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.updated",
    ]
    time.sleep(2.5)  # more sync rounds: withdrawn once, not again
    assert _journals(platform, intent.id) == _withdrawn(2500, fee)


def test_closing_an_inquiry_and_the_events_api(platform) -> None:
    client = stripe_client(platform)
    intent = _captured(platform, 1800)
    _open_dispute(platform, intent.id, inquiry=True)
    inquiry = _synced(client, intent.id, "warning_needs_response")
    closed = client.v1.disputes.close(inquiry.id)
    assert closed.status == "warning_closed"
    assert _journals(platform, intent.id) == []
    assert _event_types(client, inquiry.id) == ["charge.dispute.created", "charge.dispute.closed"]
    created = client.v1.events.list(params={"type": "charge.dispute.created", "limit": 100}).data
    assert inquiry.id in {e.data.object.id for e in created}
    assert {e.type for e in client.v1.events.list(params={"limit": 100}).data} & DISPUTE_EVENTS


def test_another_merchants_dispute_is_404_and_untouched(platform) -> None:
    client = stripe_client(platform)
    intent = _captured(platform, 1200)
    _open_dispute(platform, intent.id)
    dispute = _synced(client, intent.id, "needs_response")
    _other_id, other_secret = platform.new_merchant("Dispute outsider")
    other = stripe_client(platform, other_secret)
    attempts = [
        lambda: other.v1.disputes.retrieve(dispute.id),
        lambda: other.v1.disputes.update(dispute.id, params={"metadata": {"x": "y"}}),
        lambda: other.v1.disputes.close(dispute.id),
    ]
    for attempt in attempts:
        with pytest.raises(stripe.InvalidRequestError) as raised:
            attempt()
        assert (raised.value.http_status, raised.value.code) == (404, "resource_missing")
        assert raised.value.error.param == "dispute"
    assert other.v1.disputes.list().data == []
    assert client.v1.disputes.retrieve(dispute.id) == dispute


def test_bad_dispute_input_is_refused_precisely_and_changes_nothing(platform) -> None:
    client = stripe_client(platform)
    intent = _captured(platform, 1500)
    psd = _open_dispute(platform, intent.id)
    dispute = _synced(client, intent.id, "needs_response")
    full = {f"k{i}": "v" for i in range(50)}
    client.v1.disputes.update(dispute.id, params={"metadata": full})
    cases = [
        ({"evidence[receipt]": "file_123"}, "parameter_unknown", "evidence[receipt]"),
        ({"evidence[customer_name]": "x" * 20_001}, "parameter_invalid", "evidence[customer_name]"),
        (
            {
                f"evidence[{name}]": "x" * 20_000
                for name in (
                    "access_activity_log",
                    "billing_address",
                    "cancellation_rebuttal",
                    "customer_name",
                    "product_description",
                    "refund_policy_disclosure",
                    "shipping_address",
                    "uncategorized_text",
                )
            },
            "parameter_invalid",
            "evidence",
        ),
        ({"metadata[one_too_many]": "v"}, "parameter_invalid", "metadata"),
        ({"metadata[" + "k" * 41 + "]": "v"}, "parameter_invalid", "metadata"),
        ({"metadata[k1]": "v" * 501}, "parameter_invalid", "metadata"),
        ({"submit": "maybe"}, "parameter_invalid", "submit"),
        ({"amount": "10"}, "parameter_unknown", "amount"),
    ]
    before = (
        row_counts(platform, platform.merchant_id),
        query(platform, "SELECT * FROM disputes WHERE id = %s", dispute.id),
        _at_psp(platform, psd["id"]),
    )
    with api(platform) as http:
        for body, code, param in cases:
            response = http.post(f"/v1/disputes/{dispute.id}", data=body)
            assert response.status_code == 400, (body, response.text)
            error = response.json()["error"]
            assert (error["type"], error["code"], error["param"]) == (
                "invalid_request_error",
                code,
                param,
            ), body
    after = (
        row_counts(platform, platform.merchant_id),
        query(platform, "SELECT * FROM disputes WHERE id = %s", dispute.id),
        _at_psp(platform, psd["id"]),
    )
    assert after == before
