"""How the simulated issuer answers each card: Stripe's test cards, decline codes and messages.

This is the one place card behaviour is decided, 3-D Secure challenges included.
Card numbers never leave this module except as brand and last4.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decline:
    code: str
    decline_code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "decline_code": self.decline_code, "message": self.message}


@dataclass(frozen=True, slots=True)
class ResolvedCard:
    """A payment method as the issuer sees it; `payment_method` is what responses echo back."""

    payment_method: str
    brand: str
    last4: str
    # The issuer's answer, given once the cardholder has passed any challenge.
    decline: Decline | None
    # The issuer asks the cardholder to authenticate (3-D Secure) before answering.
    challenge: bool


class InvalidPaymentMethodError(Exception):
    """The request names a card the simulator cannot charge; nothing is stored for it."""

    def __init__(self, code: str, message: str, param: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


GENERIC_DECLINE = Decline("card_declined", "generic_decline", "Your card was declined.")
INSUFFICIENT_FUNDS = Decline(
    "card_declined", "insufficient_funds", "Your card has insufficient funds."
)
LOST_CARD = Decline("card_declined", "lost_card", "Your card was declined.")
EXPIRED_CARD = Decline("expired_card", "expired_card", "Your card has expired.")
INCORRECT_CVC = Decline("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.")
PROCESSING_ERROR = Decline(
    "processing_error",
    "processing_error",
    "An error occurred while processing your card. Try again in a little bit.",
)

_DECLINES_BY_NUMBER: dict[str, Decline] = {
    "4000000000000002": GENERIC_DECLINE,
    "4000000000009995": INSUFFICIENT_FUNDS,
    "4000000000009987": LOST_CARD,
    "4000000000000069": EXPIRED_CARD,
    "4000000000000127": INCORRECT_CVC,
    "4000000000000119": PROCESSING_ERROR,
    "4000008400001629": INSUFFICIENT_FUNDS,
}
_CHALLENGE_NUMBERS = frozenset({"4000002760003184", "4000000000003220", "4000008400001629"})

# Each test token behaves exactly like the test card number it stands for.
_NUMBERS_BY_TOKEN: dict[str, str] = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_amex": "378282246310005",
    "pm_card_visa_chargeDeclined": "4000000000000002",
    "pm_card_visa_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_visa_chargeDeclinedLostCard": "4000000000009987",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_chargeDeclinedIncorrectCvc": "4000000000000127",
    "pm_card_chargeDeclinedProcessingError": "4000000000000119",
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_threeDSecure2Required": "4000000000003220",
    "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds": "4000008400001629",
}


def resolve_token(token: str) -> ResolvedCard:
    number = _NUMBERS_BY_TOKEN.get(token)
    if number is None:
        # The simulator issues no payment methods of its own, so any other token is a client bug.
        raise InvalidPaymentMethodError(
            "invalid_payment_method", f"No such payment method: '{token}'.", "payment_method"
        )
    return ResolvedCard(
        payment_method=token,
        brand=brand_of(number),
        last4=number[-4:],
        decline=_DECLINES_BY_NUMBER.get(number),
        challenge=number in _CHALLENGE_NUMBERS,
    )


def resolve_number(number: str, exp_month: int, exp_year: int) -> ResolvedCard:
    if not luhn_valid(number):
        raise InvalidPaymentMethodError(
            "incorrect_number", "Your card number is incorrect.", "card[number]"
        )
    brand = brand_of(number)
    last4 = number[-4:]
    decline = _DECLINES_BY_NUMBER.get(number)
    if decline is None and _expired(exp_month, exp_year):
        decline = EXPIRED_CARD
    return ResolvedCard(
        payment_method=f"card_{brand}_{last4}",
        brand=brand,
        last4=last4,
        decline=decline,
        challenge=number in _CHALLENGE_NUMBERS,
    )


def luhn_valid(number: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def brand_of(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"34", "37"}:
        return "amex"
    prefix = int(number[:4])
    if 5100 <= prefix <= 5599 or 2221 <= prefix <= 2720:
        return "mastercard"
    return "unknown"


def _expired(exp_month: int, exp_year: int) -> bool:
    # A card is valid through the last day of its expiry month.
    now = time.gmtime()
    return (exp_year, exp_month) < (now.tm_year, now.tm_mon)
