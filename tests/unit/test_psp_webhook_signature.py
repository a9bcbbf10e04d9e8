"""Verifying the simulator's Standard Webhooks signatures: what passes and what is a 400."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import orjson
import pytest
from standardwebhooks import Webhook

from payplane.adapters.psp.simulator_events import SimulatorEvents
from payplane.config import SIMULATOR_WEBHOOK_SECRET
from payplane.services.inbox_ports import WebhookEnvelope, WebhookRejected

# standardwebhooks checks timestamps against the real clock too, so "now" must be real.
NOW = float(int(time.time()))
OTHER_SECRET = "whsec_" + base64.b64encode(b"another-secret-of-enough-bytes!!").decode()
BODY = orjson.dumps(
    {"id": "evt_psp_1", "type": "authorization.succeeded", "created": 1, "data": {}}
)


def _signed(
    body: bytes = BODY, *, secret: str = SIMULATOR_WEBHOOK_SECRET, at: float = NOW
) -> dict[str, str]:
    stamp = datetime.fromtimestamp(at, tz=UTC)
    return {
        "Content-Type": "application/json",
        "Webhook-Id": "evt_psp_1",
        "Webhook-Timestamp": str(int(at)),
        "Webhook-Signature": Webhook(secret).sign("evt_psp_1", stamp, body.decode()),
    }


def _events(*secrets: str, tolerance: float = 300) -> SimulatorEvents:
    return SimulatorEvents(
        secrets or (SIMULATOR_WEBHOOK_SECRET,), tolerance_seconds=tolerance, now=lambda: NOW
    )


def test_a_good_signature_gives_the_event_id_and_type() -> None:
    assert _events().verify(BODY, _signed()) == WebhookEnvelope(
        "evt_psp_1", "authorization.succeeded"
    )


def test_a_signature_made_with_another_secret_is_rejected() -> None:
    with pytest.raises(WebhookRejected, match="No signature matches"):
        _events().verify(BODY, _signed(secret=OTHER_SECRET))


@pytest.mark.parametrize("signer", [SIMULATOR_WEBHOOK_SECRET, OTHER_SECRET])
def test_during_a_rotation_either_secret_verifies(signer: str) -> None:
    events = _events(OTHER_SECRET, SIMULATOR_WEBHOOK_SECRET)
    assert events.verify(BODY, _signed(secret=signer)).event_id == "evt_psp_1"


def test_several_signatures_in_the_header_pass_if_one_matches() -> None:
    headers = _signed()
    wrong = _signed(secret=OTHER_SECRET)["Webhook-Signature"]
    headers["Webhook-Signature"] = f"{wrong} {headers['Webhook-Signature']}"
    assert _events().verify(BODY, headers).event_type == "authorization.succeeded"


@pytest.mark.parametrize("age", [301, -301, 3600])
def test_a_timestamp_outside_the_tolerance_is_rejected_even_if_signed(age: int) -> None:
    with pytest.raises(WebhookRejected, match="tolerance"):
        _events().verify(BODY, _signed(at=NOW - age))


def test_a_timestamp_inside_a_shorter_configured_tolerance_passes_and_outside_fails() -> None:
    assert _events(tolerance=60).verify(BODY, _signed(at=NOW - 59)).event_id == "evt_psp_1"
    with pytest.raises(WebhookRejected):
        _events(tolerance=60).verify(BODY, _signed(at=NOW - 61))


def test_a_tampered_body_is_rejected() -> None:
    tampered = BODY.replace(b"authorization.succeeded", b"authorization.voided")
    with pytest.raises(WebhookRejected, match="No signature matches"):
        _events().verify(tampered, _signed())


def test_a_tampered_id_is_rejected() -> None:
    headers = _signed()
    headers["Webhook-Id"] = "evt_psp_2"
    with pytest.raises(WebhookRejected):
        _events().verify(BODY, headers)


@pytest.mark.parametrize("missing", ["Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"])
def test_a_missing_header_is_rejected(missing: str) -> None:
    headers = _signed()
    del headers[missing]
    with pytest.raises(WebhookRejected, match="Missing"):
        _events().verify(BODY, headers)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Webhook-Signature", "garbage"),
        ("Webhook-Signature", "v1,not base64!"),
        ("Webhook-Signature", "v2,AAAA"),
        ("Webhook-Timestamp", "yesterday"),
        ("Webhook-Timestamp", "nan"),
    ],
)
def test_garbled_headers_are_rejected_not_crashed_on(header: str, value: str) -> None:
    headers = _signed()
    headers[header] = value
    with pytest.raises(WebhookRejected):
        _events().verify(BODY, headers)


def test_a_body_that_is_not_utf8_is_rejected() -> None:
    with pytest.raises(WebhookRejected):
        _events().verify(b"\xff\xfe", _signed())


@pytest.mark.parametrize(
    "body", [b"[]", b"not json", b'{"type": "x"}', b'{"id": "", "type": "x"}', b'{"id": 5}']
)
def test_a_signed_body_without_an_event_id_and_type_is_rejected(body: bytes) -> None:
    with pytest.raises(WebhookRejected, match="id"):
        _events().verify(body, _signed(body))


def test_one_or_two_secrets_only() -> None:
    with pytest.raises(ValueError, match="two"):
        SimulatorEvents([], tolerance_seconds=300)
    with pytest.raises(ValueError, match="two"):
        SimulatorEvents([SIMULATOR_WEBHOOK_SECRET] * 3, tolerance_seconds=300)
