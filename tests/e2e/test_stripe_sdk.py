"""The official stripe SDK, pointed at Payplane, drives the PaymentIntents lifecycle unchanged."""

from __future__ import annotations

import pytest
import stripe
from tests.e2e.support import ledger_of, stripe_client


def test_automatic_capture_succeeds_and_books_the_ledger(platform) -> None:
    client = stripe_client(platform)
    intent = client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": {"order_id": "6735"},
        }
    )
    assert intent.status == "succeeded"
    assert intent.amount_received == 2000
    assert intent.metadata["order_id"] == "6735"
    assert intent.latest_charge.startswith("ch_")
    entries = ledger_of(platform, intent.id)
    payable = [e for e in entries if e["account"].endswith(":usd:payable")]
    assert [(e["direction"], e["amount"]) for e in payable] == [("credit", 2000)]
    events = [
        e.type
        for e in client.v1.events.list(params={"limit": 100}).data
        if intent.id in (e.data.object.id, e.data.object.to_dict().get("payment_intent"))
    ]
    assert {
        "payment_intent.created",
        "payment_intent.processing",
        "charge.succeeded",
        "payment_intent.succeeded",
    } <= set(events)


def test_manual_capture_partial_releases_the_rest(platform) -> None:
    client = stripe_client(platform)
    intent = client.v1.payment_intents.create(
        params={"amount": 5000, "currency": "eur", "capture_method": "manual"}
    )
    assert intent.status == "requires_payment_method"
    intent = client.v1.payment_intents.update(
        intent.id, params={"amount": 6000, "description": "two books"}
    )
    assert (intent.amount, intent.description) == (6000, "two books")
    intent = client.v1.payment_intents.confirm(
        intent.id, params={"payment_method": "pm_card_mastercard"}
    )
    assert (intent.status, intent.amount_capturable) == ("requires_capture", 6000)
    intent = client.v1.payment_intents.capture(intent.id, params={"amount_to_capture": 4500})
    assert (intent.status, intent.amount_received, intent.amount_capturable) == (
        "succeeded",
        4500,
        0,
    )

    entries = ledger_of(platform, intent.id)
    net: dict[str, int] = {}
    for e in entries:
        net[e["account"]] = net.get(e["account"], 0) + (
            e["amount"] if e["direction"] == "debit" else -e["amount"]
        )
    authorized = next(v for k, v in net.items() if k.endswith(":eur:authorized"))
    payable = next(v for k, v in net.items() if k.endswith(":eur:payable"))
    assert authorized == 0, "the hold is fully released after a partial capture"
    assert payable == -4500


def test_cancel_requires_capture_voids_at_the_psp(platform) -> None:
    client = stripe_client(platform)
    intent = client.v1.payment_intents.create(
        params={
            "amount": 1234,
            "currency": "gbp",
            "capture_method": "manual",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    before = platform.simulator_stats()["authorizations"]["voided"]
    intent = client.v1.payment_intents.cancel(
        intent.id, params={"cancellation_reason": "requested_by_customer"}
    )
    assert intent.status == "canceled"
    assert intent.cancellation_reason == "requested_by_customer"
    assert intent.canceled_at is not None
    assert platform.simulator_stats()["authorizations"]["voided"] == before + 1
    kinds = {e["journal_kind"] for e in ledger_of(platform, intent.id)}
    assert kinds == {"authorization", "void"}


@pytest.mark.parametrize(
    ("payment_method", "code", "decline_code"),
    [
        ("pm_card_visa_chargeDeclined", "card_declined", "generic_decline"),
        ("pm_card_visa_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"),
        ("pm_card_visa_chargeDeclinedLostCard", "card_declined", "lost_card"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card"),
        ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", "incorrect_cvc"),
        ("pm_card_chargeDeclinedProcessingError", "processing_error", "processing_error"),
    ],
)
def test_declines_carry_stripes_codes(
    platform, payment_method: str, code: str, decline_code: str
) -> None:
    client = stripe_client(platform)
    with pytest.raises(stripe.CardError) as caught:
        client.v1.payment_intents.create(
            params={
                "amount": 900,
                "currency": "usd",
                "payment_method": payment_method,
                "confirm": True,
            }
        )
    error = caught.value
    assert error.http_status == 402
    assert error.code == code
    assert error.error.decline_code == decline_code
    intent = client.v1.payment_intents.retrieve(error.error.payment_intent.id)
    assert intent.status == "requires_payment_method"
    assert intent.last_payment_error.code == code
    assert intent.last_payment_error.decline_code == decline_code
    assert ledger_of(platform, intent.id) == [], "a decline moves no money"
    # The intent can be retried with another card, as in Stripe.
    intent = client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    assert intent.status == "succeeded"
    assert intent.last_payment_error is None


def test_list_pagination_and_filters(platform) -> None:
    _, secret = platform.new_merchant("pagination")
    client = stripe_client(platform, secret)
    created = [
        client.v1.payment_intents.create(
            params={
                "amount": 100 + i,
                "currency": "usd",
                **({"customer": "cus_list"} if i % 2 else {}),
            }
        ).id
        for i in range(7)
    ]
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"starting_after": cursor} if cursor else {})}
        page = client.v1.payment_intents.list(params=params)
        seen += [pi.id for pi in page.data]
        if not page.has_more:
            break
        cursor = page.data[-1].id
    assert seen == list(reversed(created))
    back = client.v1.payment_intents.list(params={"limit": 2, "ending_before": created[2]})
    assert [pi.id for pi in back.data] == [created[4], created[3]]
    only_customer = client.v1.payment_intents.list(params={"customer": "cus_list", "limit": 100})
    assert sorted(pi.id for pi in only_customer.data) == sorted(created[1::2])
    everything = client.v1.payment_intents.list(params={"limit": 100, "created": {"gte": 0}})
    assert len(everything.data) == 7
    none = client.v1.payment_intents.list(params={"created": {"lt": 1}})
    assert none.data == []
