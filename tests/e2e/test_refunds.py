"""Refunds through the stripe SDK: partial and full, concurrent, delayed and failing at the PSP."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import stripe
from tests.e2e.support import api, ledger_of, row_counts, stripe_client


def _refund_behavior(platform, **behavior: object) -> None:
    httpx.post(
        f"{platform.simulator_url}/admin/refund_behavior", json=behavior, timeout=10
    ).raise_for_status()


@pytest.fixture
def refund_mode(platform) -> Iterator[None]:
    yield
    _refund_behavior(platform, mode="succeed")


def _captured(platform, amount: int = 10_000, currency: str = "usd", secret: str | None = None):
    client = stripe_client(platform, secret)
    return client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": currency,
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )


def _payable_net(platform, intent_id: str) -> int:
    """What the merchant is owed for this payment according to the ledger (credit positive)."""
    return sum(
        (e["amount"] if e["direction"] == "credit" else -e["amount"])
        for e in ledger_of(platform, intent_id)
        if e["account"].endswith(":payable")
    )


def _wait_for(fetch, predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if predicate(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def test_partial_then_full_refund(platform) -> None:
    client = stripe_client(platform)
    intent = _captured(platform, 10_000)
    first = client.v1.refunds.create(
        params={
            "payment_intent": intent.id,
            "amount": 2_500,
            "reason": "requested_by_customer",
            "metadata": {"ticket": "T-1"},
        }
    )
    assert (first.status, first.amount, first.reason) == (
        "succeeded",
        2_500,
        "requested_by_customer",
    )
    assert first.payment_intent == intent.id
    assert first.charge == intent.latest_charge
    rest = client.v1.refunds.create(params={"payment_intent": intent.id})
    assert rest.amount == 7_500
    refreshed = client.v1.payment_intents.retrieve(intent.id)
    assert refreshed["amount_refunded"] == 10_000
    assert _payable_net(platform, intent.id) == 0
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1})
    assert caught.value.code == "amount_too_large"
    listed = client.v1.refunds.list(params={"payment_intent": intent.id})
    assert [r.id for r in listed.data] == [rest.id, first.id]
    updated = client.v1.refunds.update(first.id, params={"metadata": {"ticket": "T-2"}})
    assert updated.metadata["ticket"] == "T-2"
    assert client.v1.refunds.retrieve(first.id).metadata["ticket"] == "T-2"


def test_fifty_concurrent_partial_refunds_never_exceed_the_capture(platform) -> None:
    intent = _captured(platform, 10_000)
    results: list[httpx.Response] = []
    barrier = threading.Barrier(50)

    def refund() -> None:
        with api(platform) as client:
            barrier.wait()
            results.append(
                client.post(
                    "/v1/refunds",
                    data={"payment_intent": intent.id, "amount": "300"},
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                )
            )

    threads = [threading.Thread(target=refund) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [r for r in results if r.status_code == 200]
    refused = [r for r in results if r.status_code != 200]
    assert len(ok) == 10_000 // 300  # 33 refunds of 300 fit in 10,000
    assert all(r.json()["status"] == "succeeded" for r in ok)
    assert {r.status_code for r in refused} == {400}
    assert {r.json()["error"]["code"] for r in refused} == {"amount_too_large"}
    with api(platform) as client:
        assert client.get(f"/v1/payment_intents/{intent.id}").json()["amount_refunded"] == 9_900
    assert _payable_net(platform, intent.id) == 100
    stats = httpx.get(f"{platform.simulator_url}/admin/stats").json()["refunds"]
    assert stats["total"] >= 33


@pytest.mark.usefixtures("refund_mode")
def test_pending_refund_succeeds_later(platform) -> None:
    _refund_behavior(platform, mode="pending_then_succeed", delay_seconds=0.5)
    client = stripe_client(platform)
    intent = _captured(platform, 4_000)
    refund = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1_000})
    assert refund.status == "pending"
    assert _payable_net(platform, intent.id) == 3_000, "booked when the PSP accepted it"
    settled = _wait_for(
        lambda: client.v1.refunds.retrieve(refund.id), lambda r: r.status != "pending"
    )
    assert settled.status == "succeeded"
    assert _payable_net(platform, intent.id) == 3_000


@pytest.mark.usefixtures("refund_mode")
def test_pending_refund_that_fails_is_reversed(platform) -> None:
    _refund_behavior(platform, mode="pending_then_fail", delay_seconds=0.5)
    client = stripe_client(platform)
    intent = _captured(platform, 4_000)
    refund = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1_500})
    assert refund.status == "pending"
    settled = _wait_for(
        lambda: client.v1.refunds.retrieve(refund.id), lambda r: r.status != "pending"
    )
    assert settled.status == "failed"
    assert settled.failure_reason == "insufficient_funds"
    kinds = [e["journal_kind"] for e in ledger_of(platform, intent.id)]
    assert kinds.count("refund") == 2
    assert kinds.count("refund_reversal") == 2
    assert _payable_net(platform, intent.id) == 4_000
    assert client.v1.payment_intents.retrieve(intent.id)["amount_refunded"] == 0
    # The amount is refundable again.
    _refund_behavior(platform, mode="succeed")
    again = client.v1.refunds.create(params={"payment_intent": intent.id})
    assert (again.status, again.amount) == ("succeeded", 4_000)


@pytest.mark.usefixtures("refund_mode")
def test_refund_failing_at_once_books_nothing(platform) -> None:
    _refund_behavior(platform, mode="fail")
    client = stripe_client(platform)
    intent = _captured(platform, 2_000)
    refund = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 500})
    assert refund.status == "failed"
    assert refund.failure_reason == "insufficient_funds"
    assert "refund" not in {e["journal_kind"] for e in ledger_of(platform, intent.id)}
    assert client.v1.payment_intents.retrieve(intent.id)["amount_refunded"] == 0


@pytest.mark.usefixtures("refund_mode")
def test_cancel_a_pending_refund(platform) -> None:
    _refund_behavior(platform, mode="pending_then_succeed", delay_seconds=60)
    client = stripe_client(platform)
    intent = _captured(platform, 3_000)
    refund = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1_000})
    canceled = client.v1.refunds.cancel(refund.id)
    assert canceled.status == "canceled"
    assert _payable_net(platform, intent.id) == 3_000
    assert client.v1.payment_intents.retrieve(intent.id)["amount_refunded"] == 0
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.cancel(refund.id)
    assert caught.value.code == "refund_unexpected_state"


def test_refund_of_uncaptured_or_canceled_intents_is_refused(platform) -> None:
    client = stripe_client(platform)
    held = client.v1.payment_intents.create(
        params={
            "amount": 1_000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "capture_method": "manual",
        }
    )
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"payment_intent": held.id})
    assert "Cancel the PaymentIntent" in caught.value.user_message
    assert caught.value.param == "payment_intent"
    canceled = client.v1.payment_intents.cancel(held.id)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create(params={"payment_intent": canceled.id})


@pytest.fixture(scope="module")
def refundable(platform):
    merchant_id, secret = platform.new_merchant("refund bad input")
    intent = _captured(platform, 5_000, secret=secret)
    return {"merchant": merchant_id, "secret": secret, "intent": intent.id}


BAD_REFUNDS = [
    ("amount zero", {"amount": "0"}, "parameter_invalid_integer", "amount"),
    ("amount negative", {"amount": "-100"}, "parameter_invalid_integer", "amount"),
    ("amount above remaining", {"amount": "5001"}, "amount_too_large", "amount"),
    ("other currency", {"amount": "100", "currency": "eur"}, "parameter_invalid", "currency"),
    ("unknown intent", {"payment_intent": "pi_unknown"}, "resource_missing", "intent"),
    ("bad reason", {"reason": "because"}, "parameter_invalid", "reason"),
    ("metadata key too long", {"metadata[" + "k" * 41 + "]": "v"}, "parameter_invalid", "metadata"),
]


@pytest.mark.parametrize(
    ("name", "extra", "code", "param"), BAD_REFUNDS, ids=[c[0] for c in BAD_REFUNDS]
)
def test_bad_refunds_are_refused_and_change_nothing(
    platform, refundable, name, extra, code, param
) -> None:
    with api(platform, refundable["secret"]) as client:
        before = row_counts(platform, refundable["merchant"])
        response = client.post(
            "/v1/refunds", data={"payment_intent": refundable["intent"], **extra}
        )
        assert row_counts(platform, refundable["merchant"]) == before, f"{name} wrote something"
    assert response.status_code in (400, 404), response.text
    error = response.json()["error"]
    assert (error.get("code"), error.get("param")) == (code, param)


def test_refund_of_another_merchants_intent_is_404(platform, refundable) -> None:
    with api(platform) as client:
        response = client.post("/v1/refunds", data={"payment_intent": refundable["intent"]})
        assert (
            client.get("/v1/refunds", params={"payment_intent": refundable["intent"]}).json()[
                "data"
            ]
            == []
        )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "resource_missing"
