"""Card checks at tokenization: Luhn, brand, length, expiry, CVC, with Stripe's codes and params."""

from __future__ import annotations

from datetime import date

import pytest

from card_vault.cards import brand_of, contains_pan, luhn_valid, redact_pans, validate
from card_vault.errors import VaultError

TODAY = date(2026, 6, 15)


def card(**overrides: str | None) -> dict[str, str | None]:
    fields: dict[str, str | None] = {
        "number": "4242424242424242",
        "exp_month": "12",
        "exp_year": "2030",
        "cvc": "123",
        "holder_name": "Ada Lovelace",
    }
    return fields | overrides


def refusal(**overrides: str | None) -> VaultError:
    with pytest.raises(VaultError) as caught:
        validate(**card(**overrides), today=TODAY)
    return caught.value


@pytest.mark.parametrize(
    ("number", "valid"),
    [("4242424242424242", True), ("4242424242424241", False), ("378282246310005", True),
     ("79927398713", True), ("79927398710", False)],
)  # fmt: skip
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


@pytest.mark.parametrize(
    ("number", "brand"),
    [("4242424242424242", "visa"), ("5555555555554444", "mastercard"),
     ("2223003122003222", "mastercard"), ("378282246310005", "amex"),
     ("371449635398431", "amex"), ("6011111111111117", "discover"),
     ("6445644564456445", "discover"), ("6221260000000000", "discover"),
     ("3566002020360505", None), ("6200000000000005", None), ("30569309025904", None)],
)  # fmt: skip
def test_brand_by_prefix(number: str, brand: str | None) -> None:
    assert brand_of(number) == brand


def test_a_valid_card_is_normalised() -> None:
    result = validate(**card(number="4242 4242-4242 4242", exp_year="30"), today=TODAY)
    assert (result.number, result.brand, result.last4) == ("4242424242424242", "visa", "4242")
    assert (result.exp_month, result.exp_year, result.cvc) == (12, 2030, "123")
    assert result.holder_name == "Ada Lovelace"
    # The dataclass repr, as a traceback or a log would show it, carries neither PAN nor CVC.
    assert "4242424242424242" not in repr(result)
    assert "123" not in repr(result).replace("exp_", "")


@pytest.mark.parametrize(
    ("overrides", "type_", "code", "param"),
    [
        ({"number": None}, "invalid_request_error", "parameter_missing", "card[number]"),
        ({"number": "4242abcd42424242"}, "card_error", "invalid_number", "card[number]"),
        ({"number": "424242424242"}, "card_error", "invalid_number", "card[number]"),
        ({"number": "42424242424242424242"}, "card_error", "invalid_number", "card[number]"),
        ({"number": "4242424242424241"}, "card_error", "incorrect_number", "card[number]"),
        # Luhn-valid, but a Visa number has 13, 16 or 19 digits.
        ({"number": "424242424242424"}, "card_error", "invalid_number", "card[number]"),
        ({"number": "3566002020360505"}, "card_error", "card_declined", "card[number]"),
        ({"exp_month": "13"}, "card_error", "invalid_expiry_month", "card[exp_month]"),
        ({"exp_month": "0"}, "card_error", "invalid_expiry_month", "card[exp_month]"),
        ({"exp_month": "ab"}, "card_error", "invalid_expiry_month", "card[exp_month]"),
        ({"exp_month": ""}, "invalid_request_error", "parameter_missing", "card[exp_month]"),
        ({"exp_year": "2025"}, "card_error", "invalid_expiry_year", "card[exp_year]"),
        ({"exp_year": "2026", "exp_month": "5"}, "card_error", "invalid_expiry_year",
         "card[exp_year]"),
        ({"exp_year": "2077"}, "card_error", "invalid_expiry_year", "card[exp_year]"),
        ({"exp_year": "203"}, "card_error", "invalid_expiry_year", "card[exp_year]"),
        ({"cvc": "12"}, "card_error", "invalid_cvc", "card[cvc]"),
        ({"cvc": "1234"}, "card_error", "invalid_cvc", "card[cvc]"),
        ({"cvc": "12a"}, "card_error", "invalid_cvc", "card[cvc]"),
        ({"number": "378282246310005", "cvc": "123"}, "card_error", "invalid_cvc", "card[cvc]"),
        ({"holder_name": "x" * 201}, "invalid_request_error", "parameter_invalid",
         "billing_details[name]"),
        ({"holder_name": "Ada 4242 4242 4242 4242"}, "invalid_request_error",
         "parameter_invalid", "billing_details[name]"),
    ],
)  # fmt: skip
def test_refusals_name_the_field_and_follow_stripe(
    overrides: dict[str, str | None], type_: str, code: str, param: str
) -> None:
    error = refusal(**overrides)
    assert (error.type, error.code, error.param) == (type_, code, param)
    assert error.status == (402 if type_ == "card_error" else 400)
    # Messages say what is wrong without repeating the card data.
    assert "4242424242424242" not in error.message


def test_messages_are_precise() -> None:
    assert refusal(exp_year="2024", exp_month="3").message == (
        "Your card's expiration date (03/2024) is in the past."
    )
    assert (
        "American Express cards have a 4-digit code"
        in refusal(number="378282246310005", cvc="123").message
    )
    unsupported = refusal(number="3566002020360505")
    assert unsupported.decline_code == "card_not_supported"
    assert "Visa, Mastercard, American Express and Discover" in unsupported.message


def test_the_current_month_is_still_valid_and_cvc_is_optional() -> None:
    result = validate(**card(exp_month="6", exp_year="2026", cvc=None), today=TODAY)
    assert (result.exp_month, result.exp_year, result.cvc) == (6, 2026, None)
    amex = validate(**card(number="378282246310005", cvc="1234"), today=TODAY)
    assert (amex.brand, amex.cvc) == ("amex", "1234")


def test_pan_detection_and_redaction() -> None:
    assert contains_pan("order 4242 4242 4242 4242 for Ada")
    assert contains_pan("pan=5555-5555-5555-4444;")
    assert not contains_pan("order 4242424242424241")  # fails Luhn: not a card number
    assert not contains_pan("amount 123456789012")  # 12 digits
    text = "charged 4242424242424242 and 378282246310005 at 2026-06-15"
    assert redact_pans(text) == "charged [PAN ...4242] and [PAN ...0005] at 2026-06-15"
