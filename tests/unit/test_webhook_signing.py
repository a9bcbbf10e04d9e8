"""Merchant webhooks are signed so that Stripe's own SDK verifies them, and nothing else passes."""

from __future__ import annotations

import json
import time

import pytest
import stripe

from payplane.adapters.webhook_sender import signature_header
from payplane.domain.ids import new_id
from payplane.services.dispatch import DeliveryPolicy

SECRET = new_id("whsec", 32)
BODY = json.dumps(
    {
        "id": "evt_123",
        "object": "event",
        "api_version": "2024-06-20",
        "created": 1_700_000_000,
        "data": {"object": {"id": "pi_123", "object": "payment_intent", "amount": 2000}},
        "livemode": False,
        "pending_webhooks": 0,
        "request": {"id": "req_1", "idempotency_key": None},
        "type": "payment_intent.succeeded",
    }
).encode()


def test_the_stripe_sdk_verifies_the_signature() -> None:
    header = signature_header(SECRET, BODY, int(time.time()))
    event = stripe.Webhook.construct_event(BODY, header, SECRET)
    assert event.id == "evt_123"
    assert event.type == "payment_intent.succeeded"
    assert event.data.object.id == "pi_123"
    # Frameworks often hand the body over as text: the same bytes verify either way.
    assert stripe.Webhook.construct_event(BODY.decode(), header, SECRET).id == "evt_123"


def test_header_format() -> None:
    header = signature_header(SECRET, BODY, 1_700_000_000)
    timestamp, signature = header.split(",")
    assert timestamp == "t=1700000000"
    assert signature.startswith("v1=")
    assert len(signature) == 3 + 64


def test_another_secret_is_refused() -> None:
    header = signature_header(new_id("whsec", 32), BODY, int(time.time()))
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(BODY, header, SECRET)


def test_a_tampered_body_is_refused() -> None:
    header = signature_header(SECRET, BODY, int(time.time()))
    tampered = BODY.replace(b'"amount": 2000', b'"amount": 9000')
    assert tampered != BODY
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, header, SECRET)


def test_an_old_timestamp_is_refused() -> None:
    header = signature_header(SECRET, BODY, int(time.time()) - 600)
    with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
        stripe.Webhook.construct_event(BODY, header, SECRET)
    # ... unless the receiver allows that much.
    assert stripe.Webhook.construct_event(BODY, header, SECRET, tolerance=900).id == "evt_123"


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    policy = DeliveryPolicy(backoff_base_seconds=5.0, backoff_max_seconds=6 * 3600)
    for attempts, full in [(1, 5.0), (2, 10.0), (3, 20.0), (10, 2560.0), (13, 20480.0)]:
        delays = [policy.backoff(attempts) for _ in range(200)]
        assert all(full * 0.5 <= d <= full for d in delays)
        assert max(delays) - min(delays) > full * 0.2  # jittered, not fixed
    assert all(policy.backoff(40) <= 6 * 3600 for _ in range(50))
    assert all(policy.backoff(1000) >= 3 * 3600 for _ in range(50))
