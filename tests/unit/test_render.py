"""What the confirming/capturing request answers, given the attempt's outcome (pure functions)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payplane.domain.attempt import Attempt, AttemptKind, AttemptStatus
from payplane.domain.errors import CardError
from payplane.domain.payment_intent import CaptureMethod, PaymentError, PaymentIntent, Status
from payplane.services.orchestrator import charge_object, render_attempt
from payplane.services.responses import Response, error_body, fingerprint


def render(pi: PaymentIntent, attempt: Attempt) -> Response:
    return render_attempt(pi.as_stripe_object(), attempt)


def intent(status: Status = Status.SUCCEEDED, **extra: Any) -> PaymentIntent:
    values: dict[str, Any] = {
        "id": "pi_123",
        "merchant_id": "mer_1",
        "amount": 2000,
        "currency": "usd",
        "status": status,
        "capture_method": CaptureMethod.AUTOMATIC,
        "created": 1_700_000_000,
        "payment_method": "pm_card_visa",
        "latest_charge": "ch_1",
    }
    values.update(extra)
    return PaymentIntent(**values)


def attempt(
    status: AttemptStatus,
    kind: AttemptKind = AttemptKind.AUTHORIZE,
    error: dict[str, Any] | None = None,
) -> Attempt:
    return Attempt(
        id="att_1",
        payment_intent_id="pi_123",
        merchant_id="mer_1",
        kind=kind,
        status=status,
        connector="sim",
        psp_idempotency_key="key_1",
        amount=2000,
        currency="usd",
        payment_method="pm_card_visa",
        charge_id="ch_1",
        error=error,
    )


DECLINE = {
    "outcome": "declined",
    "code": "card_declined",
    "decline_code": "insufficient_funds",
    "message": "Your card has insufficient funds.",
}
NOT_APPLIED = {"outcome": "not_applied", "code": None, "decline_code": None, "message": None}


@pytest.mark.parametrize("kind", list(AttemptKind))
def test_succeeded_attempt_answers_200_with_the_intent(kind: AttemptKind) -> None:
    pi = intent(amount_received=2000)
    response = render(pi, attempt(AttemptStatus.SUCCEEDED, kind))
    assert response.status == 200
    assert response.body["object"] == "payment_intent"
    assert response.body["id"] == "pi_123"
    assert response.body["status"] == "succeeded"
    assert response.body["amount_received"] == 2000
    assert "error" not in response.body


@pytest.mark.parametrize("status", [AttemptStatus.PENDING, AttemptStatus.UNKNOWN])
@pytest.mark.parametrize("kind", list(AttemptKind))
def test_open_attempt_answers_502_outcome_unknown(status: AttemptStatus, kind: AttemptKind) -> None:
    response = render(intent(Status.PROCESSING), attempt(status, kind))
    assert response.status == 502
    error = response.body["error"]
    assert error["type"] == "api_error"
    assert error["code"] == "psp_outcome_unknown"
    assert "Idempotency-Key" in error["message"]
    # An unknown outcome is never reported as a decline.
    assert "decline_code" not in error


def test_declined_authorization_answers_402_card_error() -> None:
    error_obj = PaymentError(
        type="card_error",
        code="card_declined",
        message="Your card has insufficient funds.",
        decline_code="insufficient_funds",
        payment_method="pm_card_visa",
    )
    pi = intent(
        Status.REQUIRES_PAYMENT_METHOD,
        payment_method=None,
        last_payment_error=error_obj,
        latest_charge="ch_declined",
    )
    failed = attempt(AttemptStatus.FAILED, error=DECLINE)
    failed.charge_id = "ch_declined"
    response = render(pi, failed)
    assert response.status == 402
    error = response.body["error"]
    assert error["type"] == "card_error"
    assert error["code"] == "card_declined"
    assert error["decline_code"] == "insufficient_funds"
    assert error["message"] == "Your card has insufficient funds."
    assert error["charge"] == "ch_declined"
    assert error["payment_intent"]["id"] == "pi_123"
    assert error["payment_intent"]["status"] == "requires_payment_method"
    assert error["payment_intent"]["last_payment_error"]["decline_code"] == "insufficient_funds"


def test_declined_authorization_without_psp_message_uses_stripes_default() -> None:
    failed = attempt(AttemptStatus.FAILED, error={**DECLINE, "message": None})
    error = render(intent(Status.REQUIRES_PAYMENT_METHOD), failed).body["error"]
    assert error["message"] == "Your card was declined."


def test_declined_authorization_without_psp_code_still_says_card_declined() -> None:
    failed = attempt(AttemptStatus.FAILED, error={**DECLINE, "code": None})
    error = render(intent(Status.REQUIRES_PAYMENT_METHOD), failed).body["error"]
    assert error.get("code") == "card_declined"


@pytest.mark.parametrize("kind", list(AttemptKind))
def test_psp_not_applied_answers_502_psp_unavailable(kind: AttemptKind) -> None:
    response = render(
        intent(Status.REQUIRES_CONFIRMATION), attempt(AttemptStatus.FAILED, kind, NOT_APPLIED)
    )
    assert response.status == 502
    error = response.body["error"]
    assert error["type"] == "api_error"
    assert error["code"] == "psp_unavailable"
    assert "nothing was charged" in error["message"]


def test_failed_attempt_without_error_details_is_not_a_decline() -> None:
    response = render(intent(Status.REQUIRES_CONFIRMATION), attempt(AttemptStatus.FAILED))
    assert response.status == 502
    assert response.body["error"]["code"] == "psp_unavailable"


@pytest.mark.parametrize("kind", [AttemptKind.CAPTURE, AttemptKind.VOID])
def test_declined_capture_or_void_answers_400_invalid_request(kind: AttemptKind) -> None:
    refused = {"outcome": "declined", "code": "charge_expired_for_capture", "message": "Too late."}
    pi = intent(Status.REQUIRES_CAPTURE, amount_capturable=2000)
    response = render(pi, attempt(AttemptStatus.FAILED, kind, refused))
    assert response.status == 400
    error = response.body["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "charge_expired_for_capture"
    assert error["message"] == "Too late."
    assert error["payment_intent"]["status"] == "requires_capture"
    assert "decline_code" not in error


def test_error_body_leaves_out_absent_fields_and_adds_extras() -> None:
    body = error_body(CardError("no", code="card_declined"), charge="ch_1")
    assert body == {
        "error": {"type": "card_error", "message": "no", "code": "card_declined", "charge": "ch_1"}
    }


# -- charge objects for charge.* events ------------------------------------------------------


def test_charge_object_for_a_succeeded_authorization() -> None:
    pi = intent(amount_received=2000)
    charge = charge_object(pi, attempt(AttemptStatus.SUCCEEDED))
    assert charge["object"] == "charge"
    assert charge["id"] == "ch_1"
    assert charge["payment_intent"] == "pi_123"
    assert charge["status"] == "succeeded"
    assert charge["paid"] is True
    assert charge["captured"] is True
    assert charge["amount_captured"] == 2000
    assert charge["failure_code"] is None


def test_charge_object_for_a_manual_authorization_is_not_captured() -> None:
    pi = intent(Status.REQUIRES_CAPTURE, amount_capturable=2000)
    charge = charge_object(pi, attempt(AttemptStatus.SUCCEEDED))
    assert charge["captured"] is False
    assert charge["amount_captured"] == 0
    assert charge["paid"] is True


def test_charge_object_for_a_decline() -> None:
    pi = intent(Status.REQUIRES_PAYMENT_METHOD, payment_method=None)
    charge = charge_object(pi, attempt(AttemptStatus.FAILED, error=DECLINE))
    assert charge["status"] == "failed"
    assert charge["paid"] is False
    assert charge["captured"] is False
    assert charge["failure_code"] == "card_declined"
    assert charge["failure_message"] == "Your card has insufficient funds."
    assert charge["payment_method"] == "pm_card_visa"


# -- request fingerprints --------------------------------------------------------------------


def test_fingerprint_ignores_dict_key_order_at_every_level() -> None:
    a = {"amount": "2000", "currency": "usd", "metadata": {"a": "1", "b": "2"}}
    b = {"metadata": {"b": "2", "a": "1"}, "currency": "usd", "amount": "2000"}
    assert fingerprint("POST", "/v1/payment_intents", a) == fingerprint(
        "POST", "/v1/payment_intents", b
    )


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("POST", "/v1/payment_intents", {"amount": "2001", "currency": "usd"}),
        ("POST", "/v1/payment_intents", {"amount": 2000, "currency": "usd"}),
        ("POST", "/v1/payment_intents", {"amount": "2000"}),
        ("POST", "/v1/payment_intents", {"amount": "2000", "currency": "usd", "x": None}),
        ("POST", "/v1/payment_intents/pi_1", {"amount": "2000", "currency": "usd"}),
        ("GET", "/v1/payment_intents", {"amount": "2000", "currency": "usd"}),
    ],
)
def test_fingerprint_differs_for_another_request(
    method: str, path: str, params: dict[str, Any]
) -> None:
    original = fingerprint("POST", "/v1/payment_intents", {"amount": "2000", "currency": "usd"})
    assert fingerprint(method, path, params) != original


def test_fingerprint_list_order_matters() -> None:
    path = "/v1/payment_intents"
    assert fingerprint("GET", path, {"expand": ["a", "b"]}) != fingerprint(
        "GET", path, {"expand": ["b", "a"]}
    )


def test_fingerprint_is_a_sha256_hex_digest() -> None:
    value = fingerprint("POST", "/v1/x", {})
    assert len(value) == 64
    int(value, 16)


KEYS = st.text(min_size=1, max_size=10)
PARAM_VALUES = st.recursive(
    st.text(max_size=10) | st.integers() | st.booleans() | st.none(),
    lambda children: st.dictionaries(KEYS, children, max_size=3),
    max_leaves=10,
)


def _reversed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reversed(value[k]) for k in reversed(list(value))}
    return value


@settings(max_examples=200)
@given(params=st.dictionaries(KEYS, PARAM_VALUES, max_size=6))
def test_fingerprint_is_stable_under_key_order(params: dict[str, Any]) -> None:
    assert fingerprint("POST", "/v1/a", params) == fingerprint("POST", "/v1/a", _reversed(params))


@settings(max_examples=200)
@given(
    params=st.dictionaries(KEYS, st.text(max_size=10), max_size=4),
    key=KEYS,
    value=st.text(max_size=10),
)
def test_fingerprint_changes_when_a_param_changes(
    params: dict[str, str], key: str, value: str
) -> None:
    changed = {**params, key: value}
    if changed == params:
        changed = {**params, key: value + "!"}
    assert fingerprint("POST", "/v1/a", changed) != fingerprint("POST", "/v1/a", params)
