"""Card data checks made at tokenization, with Stripe's error codes, messages and params.

Nothing here stores, logs or echoes card data: errors name the field, never its value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from card_vault.errors import card_error, invalid

SUPPORTED = "Visa, Mastercard, American Express and Discover"
_LENGTHS = {
    "visa": frozenset({13, 16, 19}),
    "mastercard": frozenset({16}),
    "amex": frozenset({15}),
    "discover": frozenset({16, 17, 18, 19}),
}
_SEPARATORS = re.compile(r"[ -]")
# 13 to 19 digits, optionally grouped by single spaces or dashes, not part of a longer number.
_PAN_CANDIDATE = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
MAX_EXPIRY_YEARS = 50
MAX_NAME_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Card:
    number: str = field(repr=False)
    exp_month: int
    exp_year: int
    cvc: str | None = field(repr=False)
    holder_name: str | None
    brand: str

    @property
    def last4(self) -> str:
        return self.number[-4:]


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def brand_of(digits: str) -> str | None:
    """The brand of a number by its issuer prefix; None for brands the vault does not accept."""
    if digits.startswith("4"):
        return "visa"
    if digits[:2] in ("34", "37"):
        return "amex"
    two, four, six = int(digits[:2]), int(digits[:4]), int(digits[:6])
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "mastercard"
    if four == 6011 or two == 65 or 644 <= int(digits[:3]) <= 649 or 622126 <= six <= 622925:
        return "discover"
    return None


def contains_pan(text: str) -> bool:
    return any(_is_pan(match.group()) for match in _PAN_CANDIDATE.finditer(text))


def redact_pans(text: str) -> str:
    """`text` with every Luhn-valid 13-19 digit number replaced by a marker keeping its last4."""

    def replace(match: re.Match[str]) -> str:
        candidate = match.group()
        return f"[PAN ...{_digits(candidate)[-4:]}]" if _is_pan(candidate) else candidate

    return _PAN_CANDIDATE.sub(replace, text)


def _digits(text: str) -> str:
    return _SEPARATORS.sub("", text)


def _is_pan(candidate: str) -> bool:
    digits = _digits(candidate)
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def validate(
    number: str | None,
    exp_month: str | None,
    exp_year: str | None,
    cvc: str | None,
    holder_name: str | None,
    today: date,
) -> Card:
    """The card, or the first problem as Stripe reports it (number, expiry, cvc, name)."""
    digits, brand = _check_number(number)
    month = _check_month(exp_month)
    year = _check_year(exp_year, month, today)
    return Card(
        number=digits,
        exp_month=month,
        exp_year=year,
        cvc=_check_cvc(cvc, brand),
        holder_name=_check_name(holder_name),
        brand=brand,
    )


def _required(value: str | None, param: str) -> str:
    if value is None or not value.strip():
        raise invalid("parameter_missing", f"Missing required param: {param}.", param)
    return value.strip()


def _check_number(number: str | None) -> tuple[str, str]:
    param = "card[number]"
    digits = _digits(_required(number, param))
    if not digits.isascii() or not digits.isdigit() or not 13 <= len(digits) <= 19:
        raise card_error(
            "invalid_number",
            "Your card number is invalid: it must be 13 to 19 digits.",
            param,
        )
    if not luhn_valid(digits):
        raise card_error("incorrect_number", "Your card number is incorrect.", param)
    brand = brand_of(digits)
    if brand is None:
        raise card_error(
            "card_declined",
            f"Your card is not supported. We accept {SUPPORTED}.",
            param,
            decline_code="card_not_supported",
        )
    if len(digits) not in _LENGTHS[brand]:
        raise card_error(
            "invalid_number",
            f"Your card number is invalid: {brand_name(brand)} numbers do not have "
            f"{len(digits)} digits.",
            param,
        )
    return digits, brand


def _check_month(exp_month: str | None) -> int:
    param = "card[exp_month]"
    text = _required(exp_month, param)
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= 12):
        raise card_error(
            "invalid_expiry_month",
            "Your card's expiration month is invalid: it must be a number from 1 to 12.",
            param,
        )
    return int(text)


def _check_year(exp_year: str | None, month: int, today: date) -> int:
    param = "card[exp_year]"
    text = _required(exp_year, param)
    if not (text.isascii() and text.isdigit() and len(text) in (2, 4)):
        raise card_error(
            "invalid_expiry_year",
            "Your card's expiration year is invalid: use 2 or 4 digits, e.g. 2030.",
            param,
        )
    year = int(text) + (2000 if len(text) == 2 else 0)
    # A card is valid through the last day of its expiry month; Stripe reports a past expiry
    # at tokenization as an invalid year rather than as a declined (expired) card.
    if (year, month) < (today.year, today.month):
        raise card_error(
            "invalid_expiry_year",
            f"Your card's expiration date ({month:02d}/{year}) is in the past.",
            param,
        )
    if year > today.year + MAX_EXPIRY_YEARS:
        raise card_error(
            "invalid_expiry_year",
            f"Your card's expiration year is invalid: {year} is more than "
            f"{MAX_EXPIRY_YEARS} years away.",
            param,
        )
    return year


def _check_cvc(cvc: str | None, brand: str) -> str | None:
    if cvc is None or not cvc.strip():
        return None  # optional, as at Stripe; without it the PSP is asked without one
    text = cvc.strip()
    length = 4 if brand == "amex" else 3
    if not (text.isascii() and text.isdigit() and len(text) == length):
        raise card_error(
            "invalid_cvc",
            f"Your card's security code is invalid: {brand_name(brand)} cards have a "
            f"{length}-digit code.",
            "card[cvc]",
        )
    return text


def _check_name(holder_name: str | None) -> str | None:
    param = "billing_details[name]"
    if holder_name is None or not holder_name.strip():
        return None
    name = holder_name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise invalid(
            "parameter_invalid",
            f"Invalid {param}: must be at most {MAX_NAME_LENGTH} characters.",
            param,
        )
    if contains_pan(name):
        # The name is stored in clear: a card number typed into it must not be.
        raise invalid(
            "parameter_invalid",
            f"Invalid {param}: it looks like a card number. Enter the cardholder's name.",
            param,
        )
    return name


def brand_name(brand: str) -> str:
    return {"amex": "American Express"}.get(brand, brand.capitalize())
