"""3-D Secure and alternative payment methods end to end, over HTTP (the browser-driven versions
of the page flows are in test_hosted_pages.py).

The customer's side is played with plain HTTP: the PSP page's form POST, then the redirects back
through Payplane's return endpoint to the merchant's return_url. Whichever of the PSP's webhook,
the customer's return and the follow-up job comes first completes the payment; the others must
change nothing, and the ledger check after every test says the money agrees.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from tests.e2e.checkout_support import (
    confirm_intent,
    create_intent,
    event_types,
    intent_of,
    journal_kinds,
    pay,
    status_becomes,
)
from tests.e2e.support import api, ledger_of, row_counts, wait_for

RETURN_URL = "https://shop.example/checkout/done?order=42"


def _page_url(intent: dict[str, Any]) -> str:
    assert intent["status"] == "requires_action", intent
    assert intent["next_action"]["type"] == "redirect_to_url"
    assert intent["next_action"]["redirect_to_url"]["return_url"] == RETURN_URL
    url: str = intent["next_action"]["redirect_to_url"]["url"]
    return url


def _act(intent: dict[str, Any], action: str) -> str:
    """The customer presses a button on the PSP's page; where the PSP sends them next."""
    response = httpx.post(_page_url(intent) + "/complete", data={"action": action}, timeout=10)
    assert response.status_code == 303, response.text
    location: str = response.headers["location"]
    return location


def _come_back(location: str) -> dict[str, list[str]]:
    """The customer's browser follows the PSP's redirect to Payplane, which sends it on to the
    merchant's return_url: the query the merchant's page receives."""
    response = httpx.get(location, timeout=10)
    assert response.status_code == 303, response.text
    target = urlsplit(response.headers["location"])
    assert (target.scheme, target.netloc, target.path) == (
        "https",
        "shop.example",
        "/checkout/done",
    )
    return parse_qs(target.query)


@pytest.fixture
def client(platform: Any) -> httpx.Client:
    return api(platform)


@pytest.fixture(autouse=True)
def _clean_psp(platform: Any) -> Any:
    platform.reset_faults()
    yield
    platform.reset_faults()


# -- 3-D Secure ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "card", ["pm_card_authenticationRequired", "pm_card_threeDSecure2Required"]
)
def test_a_challenge_approved_completes_once_whatever_comes_first(
    platform: Any, client: httpx.Client, card: str
) -> None:
    intent = pay(client, RETURN_URL, card, currency="usd")
    assert intent["client_secret"].startswith(intent["id"] + "_secret_")
    back_to_payplane = _act(intent, "approve")
    assert "/redirect/return/" in back_to_payplane
    query_seen = _come_back(back_to_payplane)
    assert query_seen["payment_intent"] == [intent["id"]]
    assert query_seen["payment_intent_client_secret"] == [intent["client_secret"]]
    assert query_seen["redirect_status"] == ["succeeded"]
    assert query_seen["order"] == ["42"]  # the merchant's own query string is kept
    done = intent_of(client, intent["id"])
    assert (done["status"], done["next_action"], done["amount_received"]) == (
        "succeeded",
        None,
        2000,
    )
    platform.flush_webhooks()
    _come_back(back_to_payplane)  # a double click on the PSP's last button
    assert journal_kinds(platform, intent["id"]) == ["authorization", "capture"]
    events = event_types(platform, intent["id"])
    assert events.count("payment_intent.requires_action") == 1
    assert events.count("payment_intent.succeeded") == 1


def test_the_webhook_alone_completes_a_challenge_the_customer_never_returns_from(
    platform: Any, client: httpx.Client
) -> None:
    intent = pay(client, RETURN_URL, "pm_card_authenticationRequired", capture_method="manual")
    _act(intent, "approve")  # ... and the customer closes the tab
    done = status_becomes(client, intent["id"], "requires_capture")
    assert done["amount_capturable"] == 2000
    assert journal_kinds(platform, intent["id"]) == ["authorization"]


def test_the_return_alone_completes_a_challenge_whose_webhook_is_lost(
    platform: Any, client: httpx.Client
) -> None:
    platform.set_webhook_faults(drop_rate=1.0)
    intent = pay(client, RETURN_URL, "pm_card_authenticationRequired")
    assert _come_back(_act(intent, "approve"))["redirect_status"] == ["succeeded"]
    assert intent_of(client, intent["id"])["status"] == "succeeded"
    assert journal_kinds(platform, intent["id"]) == ["authorization", "capture"]


def test_a_failed_challenge_asks_for_another_payment_method(
    platform: Any, client: httpx.Client
) -> None:
    intent = pay(client, RETURN_URL, "pm_card_authenticationRequired")
    assert _come_back(_act(intent, "fail"))["redirect_status"] == ["failed"]
    failed = intent_of(client, intent["id"])
    assert failed["status"] == "requires_payment_method"
    error = failed["last_payment_error"]
    assert (error["type"], error["code"]) == (
        "invalid_request_error",
        "payment_intent_authentication_failure",
    )
    assert journal_kinds(platform, intent["id"]) == []
    again = confirm_intent(client, intent["id"], payment_method="pm_card_visa")
    assert again.json()["status"] == "succeeded"


def test_a_challenge_passed_then_declined_by_the_issuer(client: httpx.Client) -> None:
    intent = pay(
        client, RETURN_URL, "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds"
    )
    _come_back(_act(intent, "approve"))
    error = intent_of(client, intent["id"])["last_payment_error"]
    assert (error["type"], error["decline_code"]) == ("card_error", "insufficient_funds")


def test_an_abandoned_challenge_expires_and_a_late_customer_changes_nothing(
    platform: Any, client: httpx.Client
) -> None:
    intent = pay(client, RETURN_URL, "pm_card_authenticationRequired")
    expired = status_becomes(client, intent["id"], "requires_payment_method")
    assert expired["last_payment_error"]["code"] == "payment_intent_authentication_failure"
    late = _act(intent, "approve")  # the page refuses quietly and sends them back
    assert _come_back(late)["redirect_status"] == ["failed"]
    assert intent_of(client, intent["id"])["status"] == "requires_payment_method"
    assert journal_kinds(platform, intent["id"]) == []


def test_confirming_twice_while_the_customer_acts_is_refused(
    platform: Any, client: httpx.Client
) -> None:
    intent = pay(client, RETURN_URL, "pm_card_authenticationRequired")
    before = row_counts(platform, platform.merchant_id)
    second = confirm_intent(client, intent["id"], payment_method="pm_card_visa")
    assert second.status_code == 400
    error = second.json()["error"]
    assert (error["type"], error["code"]) == (
        "invalid_request_error",
        "payment_intent_unexpected_state",
    )
    assert "requires_action" in error["message"]
    assert row_counts(platform, platform.merchant_id) == before
    _come_back(_act(intent, "approve"))
    assert intent_of(client, intent["id"])["status"] == "succeeded"


def test_canceling_while_the_customer_acts_voids_the_authorization_at_the_psp(
    platform: Any, client: httpx.Client
) -> None:
    intent = pay(client, RETURN_URL, "pm_card_authenticationRequired")
    canceled = client.post(
        f"/v1/payment_intents/{intent['id']}/cancel",
        data={"cancellation_reason": "abandoned"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert canceled.status_code == 200, canceled.text
    assert (canceled.json()["status"], canceled.json()["next_action"]) == ("canceled", None)
    # The customer finishes anyway: the PSP refuses, its webhooks about the void change nothing.
    assert _come_back(_act(intent, "approve"))["redirect_status"] == ["failed"]
    platform.flush_webhooks()
    assert intent_of(client, intent["id"])["status"] == "canceled"
    assert journal_kinds(platform, intent["id"]) == []


# -- alternative payment methods ---------------------------------------------------------------


def test_a_wallet_payment_authorized_then_captured_and_refunded(
    platform: Any, client: httpx.Client
) -> None:
    intent = pay(
        client,
        RETURN_URL,
        "pm_paypal",
        currency="gbp",
        capture_method="manual",
        payment_method_types="paypal",
    )
    assert intent["payment_method_types"] == ["paypal"]
    assert "/pages/wallet/" in _page_url(intent)
    assert _come_back(_act(intent, "approve"))["redirect_status"] == ["succeeded"]
    assert intent_of(client, intent["id"])["status"] == "requires_capture"
    captured = client.post(
        f"/v1/payment_intents/{intent['id']}/capture",
        data={"amount_to_capture": 1500},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert captured.json()["status"] == "succeeded", captured.text
    refund = client.post(
        "/v1/refunds",
        data={"payment_intent": intent["id"], "amount": 500},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert refund.json()["status"] == "succeeded", refund.text
    accounts = {row["account"] for row in ledger_of(platform, intent["id"])}
    assert any(account.startswith("psp:sim_wallet:gbp:") for account in accounts)


def test_a_wallet_canceled_by_the_customer(client: httpx.Client) -> None:
    intent = pay(client, RETURN_URL, "pm_paypal", currency="usd", payment_method_types="paypal")
    assert _come_back(_act(intent, "fail"))["redirect_status"] == ["failed"]
    assert intent_of(client, intent["id"])["status"] == "requires_payment_method"


def test_a_bank_redirect_is_processing_until_the_bank_confirms(
    platform: Any, client: httpx.Client
) -> None:
    intent = pay(client, RETURN_URL, "pm_ideal", payment_method_types="ideal")
    assert "/pages/bank/" in _page_url(intent)
    assert _come_back(_act(intent, "approve"))["redirect_status"] == ["processing"]
    assert intent_of(client, intent["id"])["status"] == "processing"
    done = status_becomes(client, intent["id"], "succeeded")
    assert done["amount_received"] == 2000
    assert journal_kinds(platform, intent["id"]) == ["authorization", "capture"]
    events = event_types(platform, intent["id"])
    assert "charge.pending" in events
    assert events[-2:] == ["charge.succeeded", "payment_intent.succeeded"]


def test_a_bank_debit_settles_days_later(platform: Any, client: httpx.Client) -> None:
    intent = create_intent(client, **{"payment_method_types[0]": "sepa_debit"}).json()
    confirmed = confirm_intent(client, intent["id"], payment_method="pm_sepa_debit")
    assert confirmed.json()["status"] == "processing", confirmed.text
    assert confirmed.json()["next_action"] is None
    assert journal_kinds(platform, intent["id"]) == []  # nothing is owed before the bank says so
    status_becomes(client, intent["id"], "succeeded")
    refund = client.post(
        "/v1/refunds",
        data={"payment_intent": intent["id"]},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert refund.json()["status"] == "pending", refund.text  # debit refunds take days too
    refund_id = refund.json()["id"]
    wait_for(
        lambda: client.get(f"/v1/refunds/{refund_id}").json()["status"] == "succeeded",
        what="the debit's refund to settle",
    )


def test_a_bank_debit_that_looked_fine_fails(platform: Any, client: httpx.Client) -> None:
    intent = create_intent(client, **{"payment_method_types[0]": "sepa_debit"}).json()
    confirm_intent(client, intent["id"], payment_method="pm_sepa_debit_fails")
    failed = status_becomes(client, intent["id"], "requires_payment_method")
    error = failed["last_payment_error"]
    assert (error["code"], error["decline_code"]) == (
        "payment_intent_payment_attempt_failed",
        "insufficient_funds",
    )
    assert journal_kinds(platform, intent["id"]) == []
    assert "payment_intent.payment_failed" in event_types(platform, intent["id"])


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "code", "param"),
    [
        ({"payment_method_types[0]": "ideal", "currency": "usd"},
         "payment_intent_invalid_parameter", "currency"),
        ({"payment_method_types[0]": "sepa_debit", "capture_method": "manual"},
         "payment_intent_invalid_parameter", "capture_method"),
        ({"payment_method_types[0]": "paypal", "currency": "jpy"},
         "payment_intent_invalid_parameter", "currency"),
        ({"payment_method_types[0]": "card", "payment_method_types[1]": "klarna"},
         "payment_method_unactivated", "payment_method_types[1]"),
        ({"return_url": "javascript:alert(1)"}, "parameter_invalid", "return_url"),
    ],
)  # fmt: skip
def test_an_intent_a_method_cannot_serve_is_refused_at_creation(
    platform: Any, client: httpx.Client, params: dict[str, Any], code: str, param: str
) -> None:
    before = row_counts(platform, platform.merchant_id)
    response = create_intent(client, **params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    if code != "parameter_invalid":
        assert error["code"] == code
    assert row_counts(platform, platform.merchant_id) == before


@pytest.mark.parametrize(
    ("types", "payment_method", "extra", "code", "param"),
    [
        ("ideal", "pm_ideal", {}, "parameter_missing", "return_url"),
        ("paypal", "pm_paypal", {}, "parameter_missing", "return_url"),
        ("card", "pm_sepa_debit", {}, "payment_intent_incompatible_payment_method",
         "payment_method"),
    ],
)  # fmt: skip
def test_a_confirmation_a_method_cannot_take_is_refused_and_changes_nothing(
    platform: Any,
    client: httpx.Client,
    types: str,
    payment_method: str,
    extra: dict[str, str],
    code: str,
    param: str,
) -> None:
    intent = create_intent(client, **{"payment_method_types[0]": types}).json()
    before = row_counts(platform, platform.merchant_id)
    response = confirm_intent(client, intent["id"], payment_method=payment_method, **extra)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert row_counts(platform, platform.merchant_id) == before
    assert intent_of(client, intent["id"])["status"] == "requires_payment_method"


def test_an_unknown_return_is_a_plain_not_found(platform: Any) -> None:
    response = httpx.get(f"{platform.api_url}/redirect/return/att_nope", timeout=10)
    assert response.status_code == 404
    assert "not valid" in response.text
