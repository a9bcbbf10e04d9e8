from __future__ import annotations

import httpx
import pytest
from simulator_support import authorize, post, stats

from psp_simulator import cards
from psp_simulator.payloads import CardDetails as PayloadCard

pytestmark = pytest.mark.anyio

GENERIC = ("card_declined", "generic_decline", "Your card was declined.")
FUNDS = ("card_declined", "insufficient_funds", "Your card has insufficient funds.")
LOST = ("card_declined", "lost_card", "Your card was declined.")
EXPIRED = ("expired_card", "expired_card", "Your card has expired.")
CVC = ("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.")
PROCESSING = (
    "processing_error",
    "processing_error",
    "An error occurred while processing your card. Try again in a little bit.",
)

TOKENS = [
    ("pm_card_visa", None),
    ("pm_card_mastercard", None),
    ("pm_card_amex", None),
    ("pm_card_visa_chargeDeclined", GENERIC),
    ("pm_card_visa_chargeDeclinedInsufficientFunds", FUNDS),
    ("pm_card_visa_chargeDeclinedLostCard", LOST),
    ("pm_card_chargeDeclinedExpiredCard", EXPIRED),
    ("pm_card_chargeDeclinedIncorrectCvc", CVC),
    ("pm_card_chargeDeclinedProcessingError", PROCESSING),
]

NUMBERS = [
    ("4242424242424242", "card_visa_4242", None),
    ("5555555555554444", "card_mastercard_4444", None),
    ("378282246310005", "card_amex_0005", None),
    ("4000000000000002", "card_visa_0002", GENERIC),
    ("4000000000009995", "card_visa_9995", FUNDS),
    ("4000000000009987", "card_visa_9987", LOST),
    ("4000000000000069", "card_visa_0069", EXPIRED),
    ("4000000000000127", "card_visa_0127", CVC),
    ("4000000000000119", "card_visa_0119", PROCESSING),
    # Luhn-valid but not a test card: approved like any good card.
    ("4000056655665556", "card_visa_5556", None),
]


def card(number: str, exp_year: int = 2099) -> dict[str, object]:
    return {"number": number, "exp_month": 12, "exp_year": exp_year, "cvc": "123"}


def assert_outcome(
    response: httpx.Response, expected: tuple[str, str, str] | None
) -> dict[str, object]:
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    assert body["object"] == "authorization"
    assert str(body["id"]).startswith("psp_")
    if expected is None:
        assert body["status"] == "authorized"
        assert body["decline"] is None
    else:
        assert body["status"] == "declined"
        assert body["decline"] == dict(
            zip(("code", "decline_code", "message"), expected, strict=True)
        )
    return body


@pytest.mark.parametrize(("token", "expected"), TOKENS)
async def test_each_test_token_behaves_like_stripe(
    client: httpx.AsyncClient, token: str, expected: tuple[str, str, str] | None
) -> None:
    body = assert_outcome(await authorize(client, payment_method=token), expected)
    assert body["payment_method"] == token
    assert body["amount"] == 1000
    assert body["currency"] == "usd"
    assert body["captured_amount"] == 0
    assert body["merchant_reference"] == "order_1"
    assert isinstance(body["created"], int)


@pytest.mark.parametrize(("number", "label", "expected"), NUMBERS)
async def test_each_test_card_number_behaves_like_stripe(
    client: httpx.AsyncClient, number: str, label: str, expected: tuple[str, str, str] | None
) -> None:
    body = {"amount": 500, "currency": "eur", "card": card(number), "merchant_reference": "o"}
    result = assert_outcome(await post(client, "/v1/authorizations", body), expected)
    assert result["payment_method"] == label
    assert number not in (await client.get(f"/v1/authorizations/{result['id']}")).text


async def test_declines_are_stored_and_never_captured(client: httpx.AsyncClient) -> None:
    response = await authorize(client, payment_method="pm_card_visa_chargeDeclined", capture=True)
    body = assert_outcome(response, GENERIC)
    assert body["captured_amount"] == 0
    fetched = await client.get(f"/v1/authorizations/{body['id']}")
    assert fetched.json() == body
    assert (await stats(client))["authorizations"] == {
        "total": 1,
        "requires_action": 0,
        "pending": 0,
        "authorized": 0,
        "captured": 0,
        "voided": 0,
        "declined": 1,
    }


async def test_a_past_expiry_declines_an_otherwise_good_card(client: httpx.AsyncClient) -> None:
    body = {"amount": 500, "currency": "usd", "card": card("4242424242424242", 2020)}
    response = await post(client, "/v1/authorizations", {**body, "merchant_reference": "o"})
    assert_outcome(response, EXPIRED)


@pytest.mark.parametrize(
    ("field", "value", "code", "param"),
    [
        ("payment_method", "pm_card_unknownThing", "invalid_payment_method", "payment_method"),
        ("payment_method", "pm_1234", "invalid_payment_method", "payment_method"),
        ("card", card("4242424242424241"), "incorrect_number", "card[number]"),
        ("card", card("4242-4242"), "parameter_invalid", "card[number]"),
        (
            "card",
            {**card("4242424242424242"), "exp_month": 13},
            "parameter_invalid",
            "card[exp_month]",
        ),
    ],
)
async def test_unusable_payment_methods_are_rejected_and_not_stored(
    client: httpx.AsyncClient, field: str, value: object, code: str, param: str
) -> None:
    body = {"amount": 1000, "currency": "usd", "merchant_reference": "o", field: value}
    response = await post(client, "/v1/authorizations", body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert "4242424242424241" not in response.text
    assert (await stats(client))["authorizations"]["total"] == 0


def test_luhn_and_brand() -> None:
    assert cards.luhn_valid("4242424242424242")
    assert not cards.luhn_valid("4242424242424241")
    assert cards.brand_of("2223003122003222") == "mastercard"
    assert cards.brand_of("6011111111111117") == "unknown"


async def test_logs_carry_last4_but_never_the_card_number(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="psp_simulator")
    number = "4000000000009995"
    body = {"amount": 700, "currency": "usd", "card": card(number), "merchant_reference": "o"}
    assert (await post(client, "/v1/authorizations", body)).status_code == 200
    assert "last4=9995" in caplog.text
    assert number not in caplog.text
    assert number not in repr(PayloadCard.model_validate(card(number)))
