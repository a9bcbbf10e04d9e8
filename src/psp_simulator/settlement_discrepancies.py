"""Discrepancies an operator injects into a settlement report, for reconciliation tests.

Each is registered against a date before its report is rendered and applied, in registration
order, when it is. Apart from payout_mismatch, a report stays consistent with itself: its
MerchantPayout lines are the sums of the lines it shows, whatever was changed.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import Annotated, Literal

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr

from psp_simulator.errors import ApiError
from psp_simulator.fees import FeeSchedule, commission
from psp_simulator.payloads import MAX_AMOUNT
from psp_simulator.settlement_lines import (
    Day,
    MovementType,
    SettlementLine,
    net_by_currency,
    payout,
)
from psp_simulator.settlement_rows import SettlementRows


def _not_zero(delta: int) -> int:
    if delta == 0:
        raise ValueError("must not be 0.")
    return delta


Reference = Annotated[StrictStr, Field(min_length=1, max_length=255)]
Delta = Annotated[StrictInt, Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT), AfterValidator(_not_zero)]
Currency = Annotated[StrictStr, Field(pattern=r"^[A-Za-z]{3}$"), AfterValidator(str.lower)]
Amount = Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT)]


class _Discrepancy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    date: Day


class _LineDiscrepancy(_Discrepancy):
    psp_reference: Reference
    type: MovementType = "Settled"


class MissingLine(_LineDiscrepancy):
    kind: Literal["missing_line"]


class AmountOff(_LineDiscrepancy):
    kind: Literal["amount_off"]
    delta: Delta = 3


class CurrencyMismatch(_LineDiscrepancy):
    kind: Literal["currency_mismatch"]
    currency: Currency


class DuplicateLine(_LineDiscrepancy):
    kind: Literal["duplicate_line"]


class UnknownCapture(_Discrepancy):
    kind: Literal["unknown_capture"]
    amount: Amount
    currency: Currency
    merchant_reference: Reference = "unknown"


class LateChargeback(_Discrepancy):
    kind: Literal["late_chargeback"]
    psp_reference: Reference
    # Default: the captured amount.
    amount: Amount | None = None


class PayoutMismatch(_Discrepancy):
    kind: Literal["payout_mismatch"]
    delta: Delta
    # Default: every MerchantPayout line of the report.
    currency: Currency | None = None


Discrepancy = (
    MissingLine
    | AmountOff
    | CurrencyMismatch
    | DuplicateLine
    | UnknownCapture
    | LateChargeback
    | PayoutMismatch
)
KINDS: dict[str, type[Discrepancy]] = {
    "missing_line": MissingLine,
    "amount_off": AmountOff,
    "currency_mismatch": CurrencyMismatch,
    "duplicate_line": DuplicateLine,
    "unknown_capture": UnknownCapture,
    "late_chargeback": LateChargeback,
    "payout_mismatch": PayoutMismatch,
}


def parse_stored(request: str) -> Discrepancy:
    payload = orjson.loads(request)
    return KINDS[payload["kind"]].model_validate(payload)


def to_json(
    discrepancy_id: int, discrepancy: Discrepancy, line: SettlementLine | None
) -> dict[str, object]:
    body: dict[str, object] = {"id": discrepancy_id, **discrepancy.model_dump(mode="json")}
    if line is not None:
        body.update(
            psp_reference=line.psp_reference, modification_reference=line.modification_reference
        )
    return body


def check(
    rows: SettlementRows, discrepancy: Discrepancy, now: int
) -> tuple[Discrepancy, SettlementLine | None]:
    """Check `discrepancy` against its batch; return it complete, with the line it adds if any.

    Raises ApiError for a reference the batch does not have.
    """
    match discrepancy:
        case UnknownCapture():
            return discrepancy, _unknown_capture(discrepancy, rows.fee_schedule(), now)
        case LateChargeback():
            return _late_chargeback(rows, discrepancy, now)
        case PayoutMismatch():
            return discrepancy, None
    target = _target(rows.lines(discrepancy.date), discrepancy)
    if target is None:
        raise ApiError(
            400,
            "parameter_invalid",
            f"The batch of {discrepancy.date} has no {discrepancy.type} line "
            f"for '{discrepancy.psp_reference}'.",
            "psp_reference",
        )
    if isinstance(discrepancy, CurrencyMismatch) and discrepancy.currency == target.currency:
        raise ApiError(
            400,
            "parameter_invalid",
            f"The line is already in {target.currency.upper()}: name another currency.",
            "currency",
        )
    return discrepancy, None


def apply(
    lines: list[SettlementLine],
    discrepancies: list[tuple[Discrepancy, SettlementLine | None]],
    batch_number: int,
    closed_at: int,
) -> list[SettlementLine]:
    """The report's lines: `lines` changed by `discrepancies`, then one payout per currency."""
    shown = list(lines)
    payout_deltas: list[PayoutMismatch] = []
    for discrepancy, added in discrepancies:
        if isinstance(discrepancy, PayoutMismatch):
            payout_deltas.append(discrepancy)
        elif added is not None:
            shown.append(added)
        else:
            assert isinstance(discrepancy, _LineDiscrepancy)
            _change_line(shown, discrepancy)
    # Stable: lines created in the same second keep their order, added ones come after them.
    shown.sort(key=lambda line: line.created)
    totals = net_by_currency(shown)
    for mismatch in payout_deltas:
        for currency in totals:
            if mismatch.currency in (None, currency):
                totals[currency] += mismatch.delta
    payouts = [
        payout(currency, totals[currency], batch_number, closed_at) for currency in sorted(totals)
    ]
    return shown + payouts


def _change_line(lines: list[SettlementLine], discrepancy: _LineDiscrepancy) -> None:
    index = next(
        (
            index
            for index, line in enumerate(lines)
            if (line.psp_reference, line.type) == (discrepancy.psp_reference, discrepancy.type)
        ),
        None,
    )
    if index is None:
        # An earlier discrepancy took the line out of the report.
        return
    line = lines[index]
    match discrepancy:
        case MissingLine():
            del lines[index]
        case AmountOff():
            lines[index] = line.shifted(discrepancy.delta)
        case CurrencyMismatch():
            lines[index] = dataclasses.replace(line, currency=discrepancy.currency)
        case DuplicateLine():
            lines.insert(index + 1, line)


def _target(lines: list[SettlementLine], discrepancy: _LineDiscrepancy) -> SettlementLine | None:
    """The first line of the batch the discrepancy names: the one it changes."""
    key = (discrepancy.psp_reference, discrepancy.type)
    return next((line for line in lines if (line.psp_reference, line.type) == key), None)


def _unknown_capture(request: UnknownCapture, fees: FeeSchedule, now: int) -> SettlementLine:
    psp_reference = f"psp_{secrets.token_hex(12)}"
    fee = commission(request.amount, fees.card)
    return SettlementLine(
        type="Settled",
        psp_reference=psp_reference,
        merchant_reference=request.merchant_reference,
        payment_method="visa",
        modification_reference=psp_reference,
        currency=request.currency,
        gross_debit=None,
        gross_credit=request.amount,
        net_debit=None,
        net_credit=request.amount - fee,
        commission=fee,
        created=now,
    )


def _late_chargeback(
    rows: SettlementRows, request: LateChargeback, now: int
) -> tuple[LateChargeback, SettlementLine]:
    settled = rows.settled_on(request.psp_reference)
    if settled is None or settled[0] >= request.date:
        raise ApiError(
            400,
            "parameter_invalid",
            f"'{request.psp_reference}' was not settled before {request.date}: "
            "a late chargeback needs a capture from an earlier batch.",
            "psp_reference",
        )
    captured = settled[1]
    assert captured.gross_credit is not None
    amount = captured.gross_credit if request.amount is None else request.amount
    if amount > captured.gross_credit:
        raise ApiError(
            400,
            "amount_too_large",
            f"Chargeback amount {amount} exceeds the captured amount {captured.gross_credit}.",
            "amount",
        )
    line = dataclasses.replace(
        captured,
        type="Chargeback",
        modification_reference=f"psd_{secrets.token_hex(12)}",
        gross_debit=amount,
        gross_credit=None,
        net_debit=amount,
        net_credit=None,
        commission=0,
        created=now,
    )
    return request.model_copy(update={"amount": amount}), line
