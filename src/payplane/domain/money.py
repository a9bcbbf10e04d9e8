"""Money as integer minor units of one ISO 4217 currency. Never floats."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from payplane.domain import currencies
from payplane.domain.errors import InvalidAmount, UnsupportedCurrency

MIN_AMOUNT = 1
# Stripe's ceiling for one charge: eight digits of minor units.
MAX_AMOUNT = 99_999_999


def normalize_currency(code: str) -> str:
    """Lower-case the code as Stripe does, and refuse anything not in the ISO table."""
    lowered = code.lower()
    if not currencies.is_supported(lowered):
        raise UnsupportedCurrency(code)
    return lowered


def check_amount(amount: int, *, param: str = "amount") -> int:
    if amount < MIN_AMOUNT:
        raise InvalidAmount(param, f"This value must be greater than or equal to {MIN_AMOUNT}.")
    if amount > MAX_AMOUNT:
        raise InvalidAmount(
            param,
            f"Amount must be no more than {MAX_AMOUNT:,} minor units.",
            code="amount_too_large",
        )
    return amount


# A decimal in major units: ASCII digits, an optional minus, no exponent or leading zeros.
_MAJOR_UNITS = re.compile(r"(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?")


def minor_units(text: str, currency: str) -> int:
    """Exact minor units of an amount written in major units ("10.50" USD -> 1050): the inverse
    of Money.to_decimal. ValueError for anything but a plain decimal, and for more decimals than
    the currency's exponent allows ("1.005" USD, "100.0" JPY)."""
    match = _MAJOR_UNITS.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a decimal amount")
    exponent = currencies.exponent(currency)
    sign, whole, fraction = match.group(1), match.group(2), match.group(3) or ""
    if len(fraction) > exponent:
        raise ValueError(
            f"{text!r} has {len(fraction)} decimals; {currency.upper()} has {exponent}"
        )
    scale: int = 10**exponent
    amount = int(whole) * scale + int(fraction.ljust(exponent, "0") or "0")
    return -amount if sign else amount


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError("Money.amount must be an int of minor units")
        if self.currency != self.currency.lower() or not currencies.is_supported(self.currency):
            raise UnsupportedCurrency(self.currency)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def to_decimal(self) -> Decimal:
        """Major units, for display only: arithmetic stays in minor units."""
        return Decimal(self.amount).scaleb(-currencies.exponent(self.currency))

    def __str__(self) -> str:
        return f"{self.to_decimal():f} {self.currency.upper()}"
