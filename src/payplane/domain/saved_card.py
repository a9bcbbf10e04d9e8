"""A card saved in the card vault, as the core knows it: Stripe's PaymentMethod of type card.

The core holds the brand, the last four digits, the expiry and the vault's keyed fingerprint,
never the number: that stays in the vault, which inserts it when it forwards an authorization.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from payplane.domain.errors import UnexpectedState
from payplane.domain.payment_method import CARD

UNEXPECTED_STATE = "payment_method_unexpected_state"


@dataclass(slots=True)
class SavedCard:
    id: str
    merchant_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str
    funding: str
    country: str | None
    billing_name: str | None
    created: int
    customer: str | None = None

    def attach(self, customer: str) -> None:
        if self.customer not in (None, customer):
            raise UnexpectedState(
                f"The payment method {self.id} is attached to another customer; detach it "
                "first to attach it to a new one.",
                code=UNEXPECTED_STATE,
                param="customer",
            )
        self.customer = customer

    def detach(self) -> None:
        if self.customer is None:
            raise UnexpectedState(
                "The payment method you provided is not attached to a customer so detachment "
                "is impossible.",
                code=UNEXPECTED_STATE,
            )
        self.customer = None

    def as_stripe_object(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "payment_method",
            "type": CARD,
            "billing_details": {
                "address": None,
                "email": None,
                "name": self.billing_name,
                "phone": None,
            },
            "card": {
                "brand": self.brand,
                "last4": self.last4,
                "exp_month": self.exp_month,
                "exp_year": self.exp_year,
                "fingerprint": self.fingerprint,
                "funding": self.funding,
                "country": self.country,
            },
            "created": self.created,
            "customer": self.customer,
            "livemode": False,
            "metadata": {},
        }
