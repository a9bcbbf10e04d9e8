"""Settlement lines: one per money movement, in the shape of Adyen's settlement details report.

Amounts are integer minor units; a line has a debit or a credit (or neither, for gross columns of
Fee and MerchantPayout lines), never both. Currency is lower case here, upper case in the report.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Literal

from pydantic import BeforeValidator

from psp_simulator import cards
from psp_simulator.models import Authorization, Dispute, Refund

# The line types a movement can produce; MerchantPayout lines come from closing a batch.
MovementType = Literal["Settled", "Refunded", "Chargeback", "ChargebackReversed", "Fee"]
LineType = MovementType | Literal["MerchantPayout"]

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CARD_BRANDS = {"visa": "visa", "mastercard": "mc", "amex": "amex"}
_PRODUCT_METHODS = {"wallet": "paypal", "bank_redirect": "ideal", "bank_debit": "sepadirectdebit"}


def parse_day(value: object) -> date:
    """A business date, written YYYY-MM-DD and nothing else."""
    if isinstance(value, str) and _DAY.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("must be a date written YYYY-MM-DD.")


Day = Annotated[date, BeforeValidator(parse_day)]


@dataclass(frozen=True, slots=True)
class SettlementLine:
    type: LineType
    psp_reference: str
    merchant_reference: str
    payment_method: str
    modification_reference: str
    currency: str
    gross_debit: int | None
    gross_credit: int | None
    net_debit: int | None
    net_credit: int | None
    commission: int | None
    # Unix seconds of the movement (of the close, for MerchantPayout lines).
    created: int

    @property
    def net(self) -> int:
        """What the line adds to the merchant's payout: credits in, debits out."""
        return (self.net_credit or 0) - (self.net_debit or 0)

    def shifted(self, delta: int) -> SettlementLine:
        """The line with its gross and net amounts `delta` minor units larger; commission kept."""
        return dataclasses.replace(
            self,
            gross_debit=_plus(self.gross_debit, delta),
            gross_credit=_plus(self.gross_credit, delta),
            net_debit=_plus(self.net_debit, delta),
            net_credit=_plus(self.net_credit, delta),
        )


def product_of(authorization: Authorization) -> str:
    """The authorization's product; authorizations made before products existed are cards."""
    product = getattr(authorization, "product", "card")
    assert isinstance(product, str)
    return product


def payment_method_of(authorization: Authorization) -> str:
    """Adyen's payment method code: the card brand, or the scheme of the product."""
    product = product_of(authorization)
    if product != "card":
        return _PRODUCT_METHODS.get(product, product)
    # Raw card data is echoed as card_<brand>_<last4>; a token names a test card.
    payment_method = authorization.payment_method
    if payment_method.startswith("card_"):
        brand = payment_method.split("_")[1]
    else:
        try:
            brand = cards.resolve_token(payment_method).brand
        except cards.InvalidPaymentMethodError:
            brand = "unknown"
    return _CARD_BRANDS.get(brand, "card")


def settled(authorization: Authorization, commission: int, created: int) -> SettlementLine:
    amount = authorization.captured_amount
    return _line(
        "Settled",
        authorization,
        authorization.id,
        created,
        gross_credit=amount,
        net_credit=amount - commission,
        commission=commission,
    )


def refunded(authorization: Authorization, refund: Refund, created: int) -> SettlementLine:
    return _debit("Refunded", authorization, refund.id, refund.amount, created)


def chargeback(authorization: Authorization, dispute: Dispute, created: int) -> SettlementLine:
    return _debit("Chargeback", authorization, dispute.id, dispute.amount, created)


def chargeback_fee(authorization: Authorization, dispute: Dispute, created: int) -> SettlementLine:
    return _line("Fee", authorization, dispute.id, created, net_debit=dispute.fee)


def chargeback_reversed(
    authorization: Authorization, dispute: Dispute, created: int
) -> SettlementLine:
    amount = dispute.amount
    return _line(
        "ChargebackReversed",
        authorization,
        dispute.id,
        created,
        gross_credit=amount,
        net_credit=amount,
        commission=0,
    )


def net_by_currency(lines: Iterable[SettlementLine]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.currency] = totals.get(line.currency, 0) + line.net
    return totals


def payout(currency: str, net: int, batch_number: int, created: int) -> SettlementLine:
    """The PSP pays out what the batch's lines net to in `currency` (a debit of the balance)."""
    return SettlementLine(
        type="MerchantPayout",
        psp_reference="",
        merchant_reference="",
        payment_method="",
        modification_reference=f"payout_{batch_number}",
        currency=currency,
        gross_debit=None,
        gross_credit=None,
        net_debit=net if net >= 0 else None,
        net_credit=-net if net < 0 else None,
        commission=None,
        created=created,
    )


def _debit(
    line_type: MovementType,
    authorization: Authorization,
    modification: str,
    amount: int,
    created: int,
) -> SettlementLine:
    return _line(
        line_type,
        authorization,
        modification,
        created,
        gross_debit=amount,
        net_debit=amount,
        commission=0,
    )


def _line(
    line_type: MovementType,
    authorization: Authorization,
    modification: str,
    created: int,
    *,
    gross_debit: int | None = None,
    gross_credit: int | None = None,
    net_debit: int | None = None,
    net_credit: int | None = None,
    commission: int | None = None,
) -> SettlementLine:
    return SettlementLine(
        type=line_type,
        psp_reference=authorization.id,
        merchant_reference=authorization.merchant_reference,
        payment_method=payment_method_of(authorization),
        modification_reference=modification,
        currency=authorization.currency,
        gross_debit=gross_debit,
        gross_credit=gross_credit,
        net_debit=net_debit,
        net_credit=net_credit,
        commission=commission,
        created=created,
    )


def _plus(amount: int | None, delta: int) -> int | None:
    return None if amount is None else amount + delta
