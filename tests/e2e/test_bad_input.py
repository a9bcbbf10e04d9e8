"""Every bad input gets Stripe's error object with a precise param, and writes nothing."""

from __future__ import annotations

import httpx
import pytest
from tests.e2e.support import api, row_counts


@pytest.fixture(scope="module")
def merchant(platform):
    merchant_id, secret = platform.new_merchant("bad input")
    with api(platform, secret) as client:
        manual = client.post(
            "/v1/payment_intents",
            data={
                "amount": "1000",
                "currency": "usd",
                "capture_method": "manual",
                "payment_method": "pm_card_visa",
                "confirm": "true",
            },
        ).json()
        done = client.post(
            "/v1/payment_intents",
            data={
                "amount": "1000",
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": "true",
            },
        ).json()
    assert manual["status"] == "requires_capture"
    assert done["status"] == "succeeded"
    return {"id": merchant_id, "secret": secret, "manual": manual["id"], "done": done["id"]}


CREATE = "/v1/payment_intents"

CASES = [
    # (name, method, path, kwargs, status, type, code, param)
    (
        "amount missing",
        "POST",
        CREATE,
        {"data": {"currency": "usd"}},
        400,
        "invalid_request_error",
        "parameter_missing",
        "amount",
    ),
    (
        "amount zero",
        "POST",
        CREATE,
        {"data": {"amount": "0", "currency": "usd"}},
        400,
        "invalid_request_error",
        "parameter_invalid_integer",
        "amount",
    ),
    (
        "amount negative",
        "POST",
        CREATE,
        {"data": {"amount": "-5", "currency": "usd"}},
        400,
        "invalid_request_error",
        "parameter_invalid_integer",
        "amount",
    ),
    (
        "amount too large",
        "POST",
        CREATE,
        {"data": {"amount": "100000000", "currency": "usd"}},
        400,
        "invalid_request_error",
        "amount_too_large",
        "amount",
    ),
    (
        "amount not an integer",
        "POST",
        CREATE,
        {"data": {"amount": "10.5", "currency": "usd"}},
        400,
        "invalid_request_error",
        "parameter_invalid_integer",
        "amount",
    ),
    (
        "amount as JSON float",
        "POST",
        CREATE,
        {"json": {"amount": 10.0, "currency": "usd"}},
        400,
        "invalid_request_error",
        "parameter_invalid_integer",
        "amount",
    ),
    (
        "unknown currency",
        "POST",
        CREATE,
        {"data": {"amount": "100", "currency": "xyz"}},
        400,
        "invalid_request_error",
        "parameter_invalid_string",
        "currency",
    ),
    (
        "bad capture_method",
        "POST",
        CREATE,
        {"data": {"amount": "100", "currency": "usd", "capture_method": "later"}},
        400,
        "invalid_request_error",
        "parameter_invalid",
        "capture_method",
    ),
    (
        "unknown parameter",
        "POST",
        CREATE,
        {"data": {"amount": "100", "currency": "usd", "colour": "red"}},
        400,
        "invalid_request_error",
        "parameter_unknown",
        "colour",
    ),
    (
        "metadata too many keys",
        "POST",
        CREATE,
        {
            "data": {
                "amount": "100",
                "currency": "usd",
                **{f"metadata[k{i}]": "v" for i in range(51)},
            }
        },
        400,
        "invalid_request_error",
        "parameter_invalid",
        "metadata",
    ),
    (
        "metadata value too long",
        "POST",
        CREATE,
        {"data": {"amount": "100", "currency": "usd", "metadata[k]": "v" * 501}},
        400,
        "invalid_request_error",
        "parameter_invalid",
        "metadata",
    ),
    (
        "malformed JSON",
        "POST",
        CREATE,
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
        400,
        "invalid_request_error",
        "invalid_request_body",
        None,
    ),
    (
        "wrong content type",
        "POST",
        CREATE,
        {"content": b"amount=100", "headers": {"content-type": "text/plain"}},
        400,
        "invalid_request_error",
        "invalid_request_body",
        None,
    ),
    (
        "confirm without payment method",
        "POST",
        "{new}/confirm",
        {},
        400,
        "invalid_request_error",
        "payment_intent_unexpected_state",
        "payment_method",
    ),
    (
        "capture a succeeded intent",
        "POST",
        "{done}/capture",
        {},
        400,
        "invalid_request_error",
        "payment_intent_unexpected_state",
        None,
    ),
    (
        "capture above capturable",
        "POST",
        "{manual}/capture",
        {"data": {"amount_to_capture": "1001"}},
        400,
        "invalid_request_error",
        "amount_too_large",
        "amount_to_capture",
    ),
    (
        "cancel a succeeded intent",
        "POST",
        "{done}/cancel",
        {},
        400,
        "invalid_request_error",
        "payment_intent_unexpected_state",
        None,
    ),
    (
        "confirm a succeeded intent",
        "POST",
        "{done}/confirm",
        {"data": {"payment_method": "pm_card_visa"}},
        400,
        "invalid_request_error",
        "payment_intent_unexpected_state",
        None,
    ),
    (
        "update amount after capture",
        "POST",
        "{done}",
        {"data": {"amount": "5"}},
        400,
        "invalid_request_error",
        "payment_intent_unexpected_state",
        None,
    ),
    (
        "bad cancellation reason",
        "POST",
        "{manual}/cancel",
        {"data": {"cancellation_reason": "bored"}},
        400,
        "invalid_request_error",
        "parameter_invalid",
        "cancellation_reason",
    ),
    (
        "unknown intent",
        "GET",
        "/v1/payment_intents/pi_doesnotexist",
        {},
        404,
        "invalid_request_error",
        "resource_missing",
        "intent",
    ),
    (
        "unknown intent capture",
        "POST",
        "/v1/payment_intents/pi_doesnotexist/capture",
        {},
        404,
        "invalid_request_error",
        "resource_missing",
        "intent",
    ),
    (
        "limit too large",
        "GET",
        "/v1/payment_intents?limit=101",
        {},
        400,
        "invalid_request_error",
        "parameter_invalid",
        "limit",
    ),
    (
        "unknown cursor",
        "GET",
        "/v1/payment_intents?starting_after=pi_nope",
        {},
        404,
        "invalid_request_error",
        "resource_missing",
        "starting_after",
    ),
    (
        "unknown event",
        "GET",
        "/v1/events/evt_nope",
        {},
        404,
        "invalid_request_error",
        "resource_missing",
        "id",
    ),
]


@pytest.mark.parametrize(
    ("name", "method", "path", "kwargs", "status", "type_", "code", "param"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_bad_input_is_refused_precisely_and_changes_nothing(
    platform, merchant, name, method, path, kwargs, status, type_, code, param
) -> None:
    with api(platform, merchant["secret"]) as client:
        if "{new}" in path:
            fresh = client.post(CREATE, data={"amount": "100", "currency": "usd"}).json()["id"]
            path = path.replace("{new}", f"{CREATE}/{fresh}")
        path = path.replace("{done}", f"{CREATE}/{merchant['done']}").replace(
            "{manual}", f"{CREATE}/{merchant['manual']}"
        )
        before = row_counts(platform, merchant["id"])
        response = client.request(method, path, **kwargs)
        after = row_counts(platform, merchant["id"])
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == type_
    assert error.get("code") == code
    assert error.get("param") == param
    assert error["message"]
    assert after == before, f"{name} wrote something"


def test_missing_and_invalid_keys_are_401(platform) -> None:
    with httpx.Client(base_url=platform.api_url) as client:
        missing = client.get("/v1/payment_intents")
        invalid = client.get(
            "/v1/payment_intents", headers={"Authorization": "Bearer sk_test_nope"}
        )
    assert missing.status_code == 401
    assert "provide your API key" in missing.json()["error"]["message"]
    assert invalid.status_code == 401
    assert invalid.json()["error"]["type"] == "invalid_request_error"
    assert invalid.json()["error"]["message"].startswith("Invalid API Key provided")
    assert invalid.headers["request-id"].startswith("req_")


def test_another_merchants_intent_is_404_and_untouched(platform, merchant) -> None:
    _, other_secret = platform.new_merchant("nosy neighbour")
    with api(platform, other_secret) as other:
        for method, suffix in [
            ("GET", ""),
            ("POST", "/capture"),
            ("POST", "/cancel"),
            ("POST", ""),
        ]:
            response = other.request(method, f"{CREATE}/{merchant['manual']}{suffix}")
            assert response.status_code == 404, (suffix, response.text)
            assert response.json()["error"]["code"] == "resource_missing"
    with api(platform, merchant["secret"]) as client:
        assert client.get(f"{CREATE}/{merchant['manual']}").json()["status"] == "requires_capture"


def test_reusing_a_key_with_other_parameters_is_an_idempotency_error(platform, merchant) -> None:
    with api(platform, merchant["secret"]) as client:
        first = client.post(
            CREATE,
            data={"amount": "100", "currency": "usd"},
            headers={"Idempotency-Key": "reuse-me"},
        )
        before = row_counts(platform, merchant["id"])
        second = client.post(
            CREATE,
            data={"amount": "200", "currency": "usd"},
            headers={"Idempotency-Key": "reuse-me"},
        )
        assert row_counts(platform, merchant["id"]) == before
    assert first.status_code == 200
    assert second.status_code == 400
    assert second.json()["error"]["type"] == "idempotency_error"
