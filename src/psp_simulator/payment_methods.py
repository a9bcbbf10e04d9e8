"""The products the simulator sells and how each payment method in them behaves.

A product fixes the rules of its create endpoint (currencies, capture, return_url) and the hosted
page its customer may be sent to; MethodTiming says how long its bank takes to settle, if it
answers only later. Cards are decided in cards.py; the tokens of the other products here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from psp_simulator import cards
from psp_simulator.cards import Decline

Product = Literal["card", "wallet", "bank_redirect", "bank_debit"]
PageKind = Literal["3ds", "wallet", "bank"]
ReturnUrlRule = Literal["optional", "required", "ignored"]


@dataclass(frozen=True, slots=True)
class ProductRules:
    path: str
    # None: any currency.
    currencies: frozenset[str] | None
    # Whether capture=false (authorize now, capture later) is possible.
    manual_capture: bool
    return_url: ReturnUrlRule
    # The hosted page its customer completes; a card goes there only if its issuer asks.
    page: PageKind | None


RULES: dict[Product, ProductRules] = {
    "card": ProductRules("/v1/authorizations", None, True, "optional", "3ds"),
    "wallet": ProductRules(
        "/v1/wallet_payments", frozenset({"usd", "eur", "gbp"}), True, "required", "wallet"
    ),
    "bank_redirect": ProductRules(
        "/v1/bank_redirects", frozenset({"eur"}), False, "required", "bank"
    ),
    "bank_debit": ProductRules("/v1/direct_debits", frozenset({"eur"}), False, "ignored", None),
}
PRODUCT_OF_PAGE: dict[PageKind, Product] = {
    "3ds": "card",
    "wallet": "wallet",
    "bank": "bank_redirect",
}

WALLET_DECLINED = Decline(
    "wallet_declined", "wallet_declined", "The wallet provider declined the payment."
)
DEBIT_FAILED = Decline(
    "debit_failed",
    "insufficient_funds",
    "The debit was returned by the customer's bank: insufficient funds.",
)
ACTION_EXPIRED = Decline(
    "authentication_failed",
    "authentication_failed",
    "The customer did not complete the required action in time.",
)
# What the "fail" button of each hosted page does.
PAGE_FAILURES: dict[PageKind, Decline] = {
    "3ds": Decline(
        "authentication_failed", "authentication_failed", "The customer failed authentication."
    ),
    "wallet": Decline(
        "authentication_failed",
        "authentication_failed",
        "The customer canceled the payment at the wallet.",
    ),
    "bank": Decline("bank_declined", "bank_declined", "The customer's bank declined the payment."),
}

# Each token's product and the answer it ends with once nothing is left to wait for.
_TOKENS: dict[str, tuple[Product, Decline | None]] = {
    "pm_paypal": ("wallet", None),
    "pm_paypal_declined": ("wallet", WALLET_DECLINED),
    "pm_ideal": ("bank_redirect", None),
    "pm_sepa_debit": ("bank_debit", None),
    "pm_sepa_debit_fails": ("bank_debit", DEBIT_FAILED),
}


@dataclass(frozen=True, slots=True)
class Method:
    """A payment method as the simulated PSP will process it."""

    payment_method: str
    product: Product
    # Where the customer must act before anything else happens, if anywhere.
    page: PageKind | None
    # How the payment ends once the customer has approved and the bank has settled; None approves.
    decline: Decline | None
    # For logs: what identifies the method without revealing it.
    label: str


def resolve_token(product: Product, token: str) -> Method:
    if token.startswith("pm_card_"):
        card = cards.resolve_token(token)
        return _check_product(product, _card_method(card))
    found = _TOKENS.get(token)
    if found is None:
        # The simulator issues no payment methods of its own, so any other token is a client bug.
        raise cards.InvalidPaymentMethodError(
            "invalid_payment_method", f"No such payment method: '{token}'.", "payment_method"
        )
    token_product, decline = found
    method = Method(token, token_product, RULES[token_product].page, decline, token_product)
    return _check_product(product, method)


def resolve_card(product: Product, number: str, exp_month: int, exp_year: int) -> Method:
    if product != "card":
        raise cards.InvalidPaymentMethodError(
            "invalid_payment_method",
            f"Card details can only be charged through POST {RULES['card'].path}.",
            "card",
        )
    return _card_method(cards.resolve_number(number, exp_month, exp_year))


def _card_method(card: cards.ResolvedCard) -> Method:
    return Method(
        payment_method=card.payment_method,
        product="card",
        page="3ds" if card.challenge else None,
        decline=card.decline,
        label=f"{card.brand} last4={card.last4}",
    )


def _check_product(product: Product, method: Method) -> Method:
    if method.product != product:
        raise cards.InvalidPaymentMethodError(
            "invalid_payment_method",
            f"Payment method '{method.payment_method}' is a {method.product} payment method; "
            f"create it with POST {RULES[method.product].path}.",
            "payment_method",
        )
    return method


Seconds = Annotated[float, Field(ge=0.0, le=86_400.0)]
DEFAULT_ACTION_TIMEOUT_SECONDS = 3600.0
MAX_ACTION_TIMEOUT_SECONDS = 30 * 86_400.0
ActionTimeout = Annotated[float, Field(gt=0.0, le=MAX_ACTION_TIMEOUT_SECONDS)]


class MethodTiming(BaseModel):
    """How long banks and customers take; read when an authorization is created."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bank_redirect_settle_seconds: Seconds = 2.0
    bank_debit_settle_seconds: Seconds = 5.0
    bank_debit_refund_settle_seconds: Seconds = 5.0
    action_timeout_seconds: ActionTimeout = DEFAULT_ACTION_TIMEOUT_SECONDS

    def settle_seconds(self, product: Product) -> float | None:
        """How long the bank takes to settle a payment of `product`; None if it answers at once."""
        if product == "bank_redirect":
            return self.bank_redirect_settle_seconds
        if product == "bank_debit":
            return self.bank_debit_settle_seconds
        return None


class MethodTimingControl:
    """The timings in force, switched at runtime through /admin/method_timing."""

    def __init__(self, action_timeout_seconds: float) -> None:
        self._defaults = MethodTiming(action_timeout_seconds=action_timeout_seconds)
        self.config = self._defaults

    def replace(self, requested: MethodTiming) -> None:
        # Fields left out take their defaults; the action timeout's is the process setting.
        self.config = self._defaults.model_copy(update=requested.model_dump(exclude_unset=True))

    def reset(self) -> None:
        self.config = self._defaults
