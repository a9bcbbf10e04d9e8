"""Merchant webhooks end to end: endpoints made with the stripe SDK receive the events of real
payments, signed so stripe.Webhook.construct_event accepts them; a dead or slow endpoint does not
delay a healthy one; failures are recorded, end in a disabled endpoint, and events can be resent.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import stripe
from tests.e2e.support import api, stripe_client
from tests.merchant_receiver import Receiver, running_receiver

PAYMENT_EVENTS = ["payment_intent.created", "payment_intent.succeeded", "charge.succeeded"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def merchant(platform) -> tuple[str, str]:
    return platform.new_merchant("webhooks")


def pay(platform, secret: str, amount: int = 2000) -> tuple[str, float]:
    """A confirmed payment; its id and when it was asked for (time.monotonic()): an upper
    bound of commit-to-receipt latency, since the events commit during the request."""
    asked_at = time.monotonic()
    intent = stripe_client(platform, secret).v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    assert intent.status == "succeeded"
    return intent.id, asked_at


def events_of(received: list[Any], intent_id: str) -> list[Any]:
    return [
        r
        for r in received
        if r.event["data"]["object"].get("id") == intent_id
        or r.event["data"]["object"].get("payment_intent") == intent_id
    ]


def test_endpoints_crud_with_the_stripe_sdk(platform, merchant) -> None:
    _merchant_id, secret = merchant
    client = stripe_client(platform, secret)
    created = client.v1.webhook_endpoints.create(
        params={
            "url": "https://example.com/hooks",
            "enabled_events": ["payment_intent.succeeded", "charge.refunded"],
            "description": "orders",
            "metadata": {"team": "payments"},
        }
    )
    assert created.id.startswith("we_")
    assert created.object == "webhook_endpoint"
    assert created.secret.startswith("whsec_")
    assert created.status == "enabled"
    assert created.enabled_events == ["payment_intent.succeeded", "charge.refunded"]
    assert (created.livemode, created.metadata["team"]) == (False, "payments")
    fetched = client.v1.webhook_endpoints.retrieve(created.id)
    assert "secret" not in fetched
    assert fetched.url == "https://example.com/hooks"
    updated = client.v1.webhook_endpoints.update(
        created.id,
        params={"enabled_events": ["*"], "disabled": True, "metadata": {"team": ""}},
    )
    assert (updated.status, updated.enabled_events, updated.metadata.to_dict()) == (
        "disabled",
        ["*"],
        {},
    )
    assert client.v1.webhook_endpoints.update(created.id, params={"disabled": False}).status == (
        "enabled"
    )
    listed = client.v1.webhook_endpoints.list(params={"limit": 10})
    assert [e.id for e in listed.data] == [created.id]
    deleted = client.v1.webhook_endpoints.delete(created.id)
    assert (deleted.id, deleted.deleted) == (created.id, True)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.webhook_endpoints.retrieve(created.id)
    assert missing.value.http_status == 404
    assert client.v1.webhook_endpoints.list().data == []


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"enabled_events[0]": "*"}, "url"),
        ({"url": "ftp://example.com/x", "enabled_events[0]": "*"}, "url"),
        ({"url": "https://example.com/x"}, "enabled_events"),
        ({"url": "https://example.com/x", "enabled_events[0]": "invoice.paid"}, "enabled_events"),
        ({"url": "https://example.com/x", "enabled_events[0]": "*", "bogus": "1"}, "bogus"),
    ],
)
def test_bad_endpoint_params_are_refused(platform, merchant, params, param) -> None:
    with api(platform, merchant[1]) as client:
        response = client.post("/v1/webhook_endpoints", data=params)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == param
        assert client.get("/v1/webhook_endpoints").json()["data"] == []


def test_events_arrive_signed_for_the_stripe_sdk(platform, merchant, receiver) -> None:
    _merchant_id, secret = merchant
    client = stripe_client(platform, secret)
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": receiver.url("/hooks"), "enabled_events": PAYMENT_EVENTS}
    )
    intent_id, paid_at = pay(platform, secret)
    received = receiver.wait_for(lambda r: len(events_of(r, intent_id)) >= 3, timeout=10)
    mine = events_of(received, intent_id)
    types = []
    for request in mine:
        event = stripe.Webhook.construct_event(
            request.body, request.headers["Stripe-Signature"], endpoint.secret
        )
        assert client.v1.events.retrieve(event.id).type == event.type
        types.append(event.type)
    assert sorted(types) == sorted(PAYMENT_EVENTS)  # processing was not subscribed to
    latency = max(r.at for r in mine) - paid_at
    print(f"\nrequest -> endpoint receipt: {latency * 1000:.0f} ms (last of {len(mine)} events)")
    assert latency < 2.0
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(mine[0].body, mine[0].headers["Stripe-Signature"], "whsec_x")


def test_dead_and_slow_endpoints_do_not_delay_a_healthy_one(platform, merchant, receiver) -> None:
    _merchant_id, secret = merchant
    client = stripe_client(platform, secret)
    dead = client.v1.webhook_endpoints.create(
        params={"url": receiver.behave("/dead", status=500), "enabled_events": ["*"]}
    )
    slow = client.v1.webhook_endpoints.create(
        params={"url": receiver.behave("/slow", delay=5), "enabled_events": ["*"]}
    )
    client.v1.webhook_endpoints.create(
        params={"url": receiver.url("/healthy"), "enabled_events": ["*"]}
    )
    latencies = []
    for _ in range(4):
        intent_id, paid_at = pay(platform, secret)
        receipts = receiver.wait_for(
            lambda r, i=intent_id: len(events_of([x for x in r if x.path == "/healthy"], i)) >= 4,
            timeout=5,
        )
        healthy = events_of([x for x in receipts if x.path == "/healthy"], intent_id)
        latencies.append(max(r.at for r in healthy) - paid_at)
    shown = [round(x * 1000) for x in latencies]
    print(f"\nhealthy endpoint, last event of each payment: {shown} ms")
    assert max(latencies) < 2.0
    # The dead endpoint's attempts are all on record, and it ends up disabled, with an event.
    deadline = time.monotonic() + 15
    while client.v1.webhook_endpoints.retrieve(dead.id).status != "disabled":
        assert time.monotonic() < deadline, "the dead endpoint was never disabled"
        time.sleep(0.3)
    with api(platform, secret) as http:
        listed = http.get(f"/v1/webhook_endpoints/{dead.id}/deliveries?limit=100").json()
    assert listed["data"]
    for delivery in listed["data"]:
        assert delivery["status"] in ("failed", "pending")
        assert delivery["attempts"]
        assert {a["status_code"] for a in delivery["attempts"]} == {500}
        assert all(a["latency_ms"] >= 0 and a["attempted_at"] for a in delivery["attempts"])
    assert any(len(d["attempts"]) > 1 for d in listed["data"])  # retried before giving up
    disabled = client.v1.events.list(params={"type": "webhook_endpoint.disabled"}).data
    assert [e.data.object.id for e in disabled] == [dead.id]
    assert "secret" not in disabled[0].data.object
    # The healthy endpoint subscribed to "*" hears about it.
    receiver.wait_for(
        lambda r: any(x.path == "/healthy" and x.event["id"] == disabled[0].id for x in r), 5
    )
    # The slow endpoint's attempts time out (3 s in this suite) and are recorded as such.
    deadline = time.monotonic() + 10
    with api(platform, secret) as http:
        while True:
            page = http.get(f"/v1/webhook_endpoints/{slow.id}/deliveries?limit=100").json()
            attempts = [a for d in page["data"] for a in d["attempts"]]
            if attempts or time.monotonic() > deadline:
                break
            time.sleep(0.3)
    assert attempts
    assert all(a["status_code"] is None and "timed out" in a["error"] for a in attempts)
    assert all(a["latency_ms"] >= 2900 for a in attempts)


def test_resend_delivers_an_event_again(platform, merchant, receiver) -> None:
    _merchant_id, secret = merchant
    client = stripe_client(platform, secret)
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": receiver.url("/resend"), "enabled_events": ["payment_intent.succeeded"]}
    )
    intent_id, _ = pay(platform, secret)
    (first,) = receiver.wait_for(lambda r: len(events_of(r, intent_id)) >= 1, 10)
    event_id = first.event["id"]
    with api(platform, secret) as http:
        response = http.post(
            f"/v1/webhook_endpoints/{endpoint.id}/resend", data={"event": event_id}
        )
        assert response.status_code == 200, response.text
        assert response.json()["object"] == "webhook_delivery"
        assert response.json()["event"] == event_id
        received = receiver.wait_for(lambda r: len(r) >= 2, 10)
        assert [r.event["id"] for r in received] == [event_id, event_id]
        deadline = time.monotonic() + 5  # the receipt comes a moment before the record
        while True:
            (delivery,) = http.get(
                f"/v1/webhook_endpoints/{endpoint.id}/deliveries", params={"event": event_id}
            ).json()["data"]
            if delivery["status"] == "succeeded" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert [a["status_code"] for a in delivery["attempts"]] == [200, 200]
        unknown = http.post(
            f"/v1/webhook_endpoints/{endpoint.id}/resend", data={"event": "evt_unknown"}
        )
        assert (unknown.status_code, unknown.json()["error"]["param"]) == (404, "event")


def test_another_merchants_endpoint_is_not_found(platform, merchant) -> None:
    _merchant_id, secret = merchant
    endpoint = stripe_client(platform, secret).v1.webhook_endpoints.create(
        params={"url": "https://example.com/mine", "enabled_events": ["*"]}
    )
    _other_id, other_secret = platform.new_merchant("intruder")
    with api(platform, other_secret) as http:
        path = f"/v1/webhook_endpoints/{endpoint.id}"
        for response in (
            http.get(path),
            http.post(path, data={"description": "mine now"}),
            http.delete(path),
            http.get(f"{path}/deliveries"),
            http.post(f"{path}/resend", data={"event": "evt_123"}),
        ):
            assert response.status_code == 404, response.text
            assert response.json()["error"]["code"] == "resource_missing"
        assert http.get("/v1/webhook_endpoints").json()["data"] == []
    assert stripe_client(platform, secret).v1.webhook_endpoints.retrieve(endpoint.id).url == (
        "https://example.com/mine"
    )
