"""Money, currencies and amount bounds: integers of minor units, never floats."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payplane.domain import currencies
from payplane.domain.errors import InvalidAmount, InvalidRequest, UnsupportedCurrency
from payplane.domain.money import Money, check_amount, normalize_currency

# Realistic magnitudes (PostgreSQL bigint); Decimal's 28-digit context is not the subject here.
AMOUNTS = st.integers(min_value=-(2**63), max_value=2**63 - 1)
CODES = st.sampled_from(sorted(currencies.EXPONENTS))


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("JPY", 0),
        ("jpy", 0),
        ("USD", 2),
        ("usd", 2),
        ("Usd", 2),
        ("KWD", 3),
        ("kwd", 3),
        ("CLF", 4),
        ("clf", 4),
        ("EUR", 2),
        ("BHD", 3),
        ("KRW", 0),
    ],
)
def test_exponent_comes_from_the_iso_table_in_any_case(code: str, expected: int) -> None:
    assert currencies.exponent(code) == expected
    assert currencies.is_supported(code)


@pytest.mark.parametrize("code", ["xyz", "US", "usdd", "", "ANG", "btc"])
def test_unknown_or_retired_codes_are_not_supported(code: str) -> None:
    assert not currencies.is_supported(code)
    with pytest.raises(KeyError):
        currencies.exponent(code)


@pytest.mark.parametrize("code", ["xyz", "BTC", "ang", "us"])
def test_normalize_currency_refuses_unknown_codes_with_param_currency(code: str) -> None:
    with pytest.raises(UnsupportedCurrency) as excinfo:
        normalize_currency(code)
    error = excinfo.value
    assert isinstance(error, InvalidRequest)
    assert error.param == "currency"
    assert error.http_status == 400
    assert error.type == "invalid_request_error"
    assert code.lower() in error.message


@pytest.mark.parametrize(("code", "expected"), [("USD", "usd"), ("Jpy", "jpy"), ("kwd", "kwd")])
def test_normalize_currency_lower_cases(code: str, expected: str) -> None:
    assert normalize_currency(code) == expected


@pytest.mark.parametrize("amount", [1, 2, 50, 99_999_999])
def test_check_amount_accepts_the_valid_range(amount: int) -> None:
    assert check_amount(amount) == amount


@pytest.mark.parametrize("amount", [0, -1, -99_999_999])
def test_check_amount_refuses_zero_and_negatives(amount: int) -> None:
    with pytest.raises(InvalidAmount) as excinfo:
        check_amount(amount)
    assert excinfo.value.param == "amount"
    assert excinfo.value.code != "amount_too_large"
    assert excinfo.value.http_status == 400


@pytest.mark.parametrize("amount", [100_000_000, 10**12])
def test_check_amount_refuses_more_than_eight_digits(amount: int) -> None:
    with pytest.raises(InvalidAmount) as excinfo:
        check_amount(amount)
    assert excinfo.value.code == "amount_too_large"
    assert excinfo.value.param == "amount"


def test_check_amount_names_the_given_param() -> None:
    with pytest.raises(InvalidAmount) as excinfo:
        check_amount(0, param="amount_to_capture")
    assert excinfo.value.param == "amount_to_capture"


@pytest.mark.parametrize("amount", [1.0, 10.5, Decimal(100), "100", True, False, None])
def test_money_refuses_anything_but_int(amount: object) -> None:
    with pytest.raises(TypeError):
        Money(amount, "usd")  # type: ignore[arg-type]


@pytest.mark.parametrize("code", ["USD", "Usd", "JPY", "xyz", ""])
def test_money_refuses_upper_case_and_unknown_codes(code: str) -> None:
    with pytest.raises(UnsupportedCurrency):
        Money(100, code)


def test_money_accepts_lower_case_iso_codes_and_negative_amounts() -> None:
    assert Money(-5, "usd").amount == -5
    assert Money(0, "jpy").currency == "jpy"


def test_addition_and_subtraction_within_one_currency() -> None:
    assert Money(150, "usd") + Money(25, "usd") == Money(175, "usd")
    assert Money(150, "usd") - Money(200, "usd") == Money(-50, "usd")


@pytest.mark.parametrize(("left", "right"), [("usd", "eur"), ("jpy", "krw"), ("kwd", "bhd")])
def test_combining_currencies_raises(left: str, right: str) -> None:
    with pytest.raises(ValueError, match="cannot combine"):
        Money(1, left) + Money(1, right)
    with pytest.raises(ValueError, match="cannot combine"):
        Money(1, left) - Money(1, right)


@pytest.mark.parametrize(
    ("money", "expected"),
    [
        (Money(1234, "usd"), Decimal("12.34")),
        (Money(1234, "jpy"), Decimal(1234)),
        (Money(1234, "kwd"), Decimal("1.234")),
        (Money(1234, "clf"), Decimal("0.1234")),
        (Money(-5, "usd"), Decimal("-0.05")),
    ],
)
def test_to_decimal_examples(money: Money, expected: Decimal) -> None:
    assert money.to_decimal() == expected


def test_str_shows_major_units_and_upper_case_code() -> None:
    assert str(Money(1234, "usd")) == "12.34 USD"
    assert str(Money(5, "kwd")) == "0.005 KWD"
    assert str(Money(700, "jpy")) == "700 JPY"


@settings(max_examples=200)
@given(a=AMOUNTS, b=AMOUNTS, currency=CODES)
def test_add_then_subtract_is_identity(a: int, b: int, currency: str) -> None:
    assert Money(a, currency) + Money(b, currency) - Money(b, currency) == Money(a, currency)


@settings(max_examples=200)
@given(a=AMOUNTS, b=AMOUNTS, currency=CODES)
def test_addition_is_exact_integer_arithmetic(a: int, b: int, currency: str) -> None:
    total = Money(a, currency) + Money(b, currency)
    assert total.amount == a + b
    assert total.currency == currency


@settings(max_examples=200)
@given(amount=AMOUNTS, currency=CODES)
def test_to_decimal_scales_by_the_exponent(amount: int, currency: str) -> None:
    value = Money(amount, currency).to_decimal()
    assert value * 10 ** currencies.exponent(currency) == amount
    # Never more fractional digits than the currency has.
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    assert -exponent <= currencies.exponent(currency)
