"""Payment method types, and the rules a connector declares for each type it serves.

Which connector serves a type, and under which rules (currencies, manual capture, refunds,
redirects), is each connector's own knowledge; the domain only names the rules so that the
checks below are made the same way for every method.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from payplane.domain.errors import InvalidRequest
from payplane.domain.payment_intent import CaptureMethod

CARD = "card"
# A test token's type is read from Stripe's test-token prefixes (pm_card_visa, pm_paypal,
# pm_ideal, pm_sepa_debit); anything else, the card vault's saved cards included, is a card.
_TYPE_BY_PREFIX = (("pm_paypal", "paypal"), ("pm_ideal", "ideal"), ("pm_sepa_debit", "sepa_debit"))
# The card vault names what it saves pm_ and 24 letters and digits; test tokens hold underscores.
_VAULT_TOKEN = re.compile(r"pm_[A-Za-z0-9]{24}")


def is_vault_token(payment_method: str) -> bool:
    """A card saved by the card vault (the core knows it by its id only), not a test token."""
    return _VAULT_TOKEN.fullmatch(payment_method) is not None


def type_of(payment_method: str) -> str:
    if is_vault_token(payment_method):
        return CARD  # whatever its random letters happen to start with
    for prefix, method_type in _TYPE_BY_PREFIX:
        if payment_method.startswith(prefix):
            return method_type
    return CARD


@dataclass(frozen=True, slots=True)
class MethodRules:
    """What a connector supports for one payment method type."""

    currencies: frozenset[str] | None = None  # None: every currency
    manual_capture: bool = True
    refunds: bool = True
    needs_return_url: bool = False  # the customer is redirected away and must come back

    def check_intent(self, method_type: str, currency: str, capture_method: CaptureMethod) -> None:
        if self.currencies is not None and currency not in self.currencies:
            supported = ", ".join(sorted(self.currencies))
            raise InvalidRequest(
                f"The currency provided ({currency}) is invalid for payment method type "
                f"{method_type}, which supports: {supported}.",
                code="payment_intent_invalid_parameter",
                param="currency",
            )
        if capture_method is CaptureMethod.MANUAL and not self.manual_capture:
            raise InvalidRequest(
                f"The payment method type {method_type} does not support "
                "capture_method=manual: its payments are captured when they complete. "
                "Use capture_method=automatic.",
                code="payment_intent_invalid_parameter",
                param="capture_method",
            )

    def check_confirmation(self, method_type: str, return_url: str | None) -> None:
        if self.needs_return_url and not return_url:
            raise InvalidRequest(
                f"A return_url is required to confirm a PaymentIntent with a {method_type} "
                "payment method: the customer is redirected to authorize the payment and "
                "returns to that URL.",
                code="parameter_missing",
                param="return_url",
            )

    def check_refund(self, method_type: str) -> None:
        if not self.refunds:
            raise InvalidRequest(
                f"Payments made with payment method type {method_type} cannot be refunded "
                "through the API.",
                code="charge_not_refundable",
                param="payment_intent",
            )
