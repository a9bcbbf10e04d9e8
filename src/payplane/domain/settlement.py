"""A PSP's settlement details report (columns modelled on Adyen's), parsed into typed lines.

Parsing is strict: a report that breaks the format anywhere is refused as a whole with the line
and column at fault, so a reconciliation never posts half a report. Amounts become integer minor
units through the currency's exponent, exactly (money.minor_units).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from payplane.domain import currencies
from payplane.domain.errors import PayplaneError
from payplane.domain.money import minor_units

HEADER = (
    "Company Account",
    "Merchant Account",
    "Psp Reference",
    "Merchant Reference",
    "Payment Method",
    "Creation Date",
    "TimeZone",
    "Type",
    "Modification Reference",
    "Gross Currency",
    "Gross Debit (GC)",
    "Gross Credit (GC)",
    "Exchange Rate",
    "Net Currency",
    "Net Debit (NC)",
    "Net Credit (NC)",
    "Commission (NC)",
    "Batch Number",
)


class LineType(StrEnum):
    SETTLED = "Settled"
    REFUNDED = "Refunded"
    CHARGEBACK = "Chargeback"
    CHARGEBACK_REVERSED = "ChargebackReversed"
    FEE = "Fee"
    MERCHANT_PAYOUT = "MerchantPayout"


# The report's payment methods and the product whose fee applies; any other method is a card
# brand (the PSP's own default).
PRODUCT_BY_METHOD = {"paypal": "wallet", "ideal": "bank_redirect", "sepadirectdebit": "bank_debit"}
CARD = "card"


class ReportLine(NamedTuple):
    """One line, in the column order of the settlement_lines table. Amounts are minor units of
    `currency` (lower case), None where the report leaves the cell empty."""

    line_no: int  # the report's line number, the header being line 1
    type: str
    psp_reference: str | None
    merchant_reference: str | None
    payment_method: str | None
    created_at: datetime
    modification_reference: str | None
    currency: str
    gross_debit: int | None
    gross_credit: int | None
    net_debit: int | None
    net_credit: int | None
    commission: int | None
    batch_number: int


class MalformedReport(PayplaneError):
    """The PSP's report breaks its format: nothing of it is stored or posted."""

    type = "api_error"
    http_status = 502

    def __init__(self, line: int, message: str, *, column: str | None = None) -> None:
        where = f"line {line}" + (f", column {column!r}" if column else "")
        super().__init__(
            f"The settlement report is malformed at {where}: {message}. Nothing was stored or "
            "posted; ask the PSP for a corrected report.",
            code="settlement_report_malformed",
        )
        self.line = line
        self.column = column


# Which amount cells each type fills (gross debit, gross credit, net debit, net credit): True
# required, False empty; the payout has one of its two net cells (see _check_payout).
_SHAPES: dict[str, tuple[bool, bool, bool, bool]] = {
    LineType.SETTLED: (False, True, False, True),
    LineType.REFUNDED: (True, False, True, False),
    LineType.CHARGEBACK: (True, False, True, False),
    LineType.CHARGEBACK_REVERSED: (False, True, False, True),
    LineType.FEE: (False, False, True, False),
}
_AMOUNT_COLUMNS = (10, 11, 14, 15, 16)  # gross debit, gross credit, net debit, net credit, fee
# Amounts and times repeat a lot in a report; remembering a bounded number of them makes a
# million-line report parse several times faster.
_CACHE_LIMIT = 200_000


def parse_report(data: bytes) -> Iterator[ReportLine]:
    """Every line of the report (payout lines included), in order, as they are parsed: the
    consumer (a COPY) streams them, and MalformedReport reaches it where the report breaks."""
    if data.startswith(b"\xef\xbb\xbf"):
        raise MalformedReport(1, "the report starts with a byte order mark")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MalformedReport(line, "the report is not valid UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    parser = _Parser()
    try:
        header = next(reader, None)
        if header is None or tuple(header) != HEADER:
            raise MalformedReport(1, f"the header is not the settlement report's: {header}")
        for row in reader:
            yield parser.line(reader.line_num, row)
    except csv.Error as exc:
        raise MalformedReport(reader.line_num, f"not RFC 4180 CSV ({exc})") from None


class _Parser:
    def __init__(self) -> None:
        self._currencies: dict[tuple[str, str], str] = {}
        self._amounts: dict[str, dict[str, int]] = {}
        self._times: dict[str, datetime] = {}

    def line(self, line_no: int, row: list[str]) -> ReportLine:
        if len(row) != len(HEADER):
            raise MalformedReport(line_no, f"{len(row)} fields, the header has {len(HEADER)}")
        kind = row[7]
        if kind not in _SHAPES and kind != LineType.MERCHANT_PAYOUT:
            raise MalformedReport(line_no, f"unknown type {kind!r}", column=HEADER[7])
        if row[6] != "UTC":
            raise MalformedReport(line_no, f"time zone {row[6]!r}, expected UTC", column=HEADER[6])
        if row[12] != "1":
            raise MalformedReport(
                line_no, f"exchange rate {row[12]!r}: only 1 is supported", column=HEADER[12]
            )
        currency = self._currencies.get((row[9], row[13])) or self._currency(line_no, row)
        known = self._amounts[currency]
        amounts: list[int | None] = []
        for index in _AMOUNT_COLUMNS:
            text = row[index]
            value = known.get(text) if text else None
            if value is None and text:
                value = self._amount(line_no, index, text, currency)
            amounts.append(value)
        gross_debit, gross_credit, net_debit, net_credit, commission = amounts
        if kind == LineType.MERCHANT_PAYOUT:
            _check_payout(line_no, amounts)
        else:
            _check_movement(line_no, kind, row, amounts)
        created_at = self._times.get(row[5]) or self._time(line_no, row[5])
        batch = row[17]
        if not (batch.isascii() and batch.isdigit() and int(batch) > 0):
            raise MalformedReport(line_no, f"{batch!r} is not a batch number", column=HEADER[17])
        return ReportLine(
            line_no,
            kind,
            row[2] or None,
            row[3] or None,
            row[4] or None,
            created_at,
            row[8] or None,
            currency,
            gross_debit,
            gross_credit,
            net_debit,
            net_credit,
            commission,
            int(batch),
        )

    def _currency(self, line_no: int, row: list[str]) -> str:
        gross, net = row[9], row[13]
        if not currencies.is_supported(net) or net != net.upper():
            raise MalformedReport(line_no, f"{net!r} is not an ISO 4217 code", column=HEADER[13])
        if gross and gross != net:
            raise MalformedReport(
                line_no, f"gross currency {gross} differs from net currency {net}", column=HEADER[9]
            )
        self._currencies[(gross, net)] = net.lower()
        self._amounts.setdefault(net.lower(), {})
        return net.lower()

    def _amount(self, line_no: int, index: int, text: str, currency: str) -> int:
        try:
            value = minor_units(text, currency)
        except ValueError as exc:
            raise MalformedReport(line_no, str(exc), column=HEADER[index]) from None
        known = self._amounts[currency]
        if len(known) < _CACHE_LIMIT:
            known[text] = value
        return value

    def _time(self, line_no: int, text: str) -> datetime:
        try:
            created_at = datetime.fromisoformat(text)
        except ValueError:
            created_at = None
        if created_at is None or created_at.tzinfo is not None:
            raise MalformedReport(line_no, f"{text!r} is not a UTC date and time", column=HEADER[5])
        if len(self._times) < _CACHE_LIMIT:
            self._times[text] = created_at
        return created_at


def _check_movement(line_no: int, kind: str, row: list[str], amounts: list[int | None]) -> None:
    gross_debit, gross_credit, net_debit, net_credit, commission = amounts
    # Only a capture's net may be negative: when the fee exceeds the amount.
    if (
        (gross_debit or 0) < 0
        or (gross_credit or 0) < 0
        or (net_debit or 0) < 0
        or (commission or 0) < 0
        or (kind != LineType.SETTLED and (net_credit or 0) < 0)
    ):
        _refuse_negative(line_no, kind, amounts)
    filled = (gross_debit is not None, gross_credit is not None, net_debit is not None,
              net_credit is not None)  # fmt: skip
    if filled != _SHAPES[kind]:
        for index, required, present in zip(_AMOUNT_COLUMNS, _SHAPES[kind], filled, strict=False):
            if required != present:
                state = "required" if required else "must be empty"
                raise MalformedReport(line_no, f"{state} on a {kind} line", column=HEADER[index])
    if not row[2] or not row[8]:
        index = 2 if not row[2] else 8
        raise MalformedReport(line_no, f"required on a {kind} line", column=HEADER[index])
    if kind == LineType.SETTLED:
        if commission is None:
            raise MalformedReport(line_no, "required on a Settled line", column=HEADER[16])
        assert gross_credit is not None
        if net_credit != gross_credit - commission:
            raise MalformedReport(
                line_no, "net credit is not gross credit minus commission", column=HEADER[15]
            )
        return
    if commission:
        raise MalformedReport(line_no, f"a {kind} line carries no commission", column=HEADER[16])
    if kind != LineType.FEE and (net_debit, net_credit) != (gross_debit, gross_credit):
        raise MalformedReport(line_no, "net amount differs from gross amount", column=HEADER[14])


def _refuse_negative(line_no: int, kind: str, amounts: list[int | None]) -> None:
    for index, value in zip(_AMOUNT_COLUMNS, amounts, strict=True):
        if value is not None and value < 0 and not (kind == LineType.SETTLED and index == 15):
            raise MalformedReport(line_no, f"negative on a {kind} line", column=HEADER[index])


def _check_payout(line_no: int, amounts: list[int | None]) -> None:
    gross_debit, gross_credit, net_debit, net_credit, commission = amounts
    if any(value is not None and value < 0 for value in amounts):
        _refuse_negative(line_no, LineType.MERCHANT_PAYOUT, amounts)
    if gross_debit is not None or gross_credit is not None or commission:
        raise MalformedReport(line_no, "a MerchantPayout line has only a net amount")
    if (net_debit is None) == (net_credit is None):
        raise MalformedReport(
            line_no, "a MerchantPayout line has exactly one of net debit and net credit"
        )


class SettlementReportUnavailable(PayplaneError):
    """The PSP did not give the report (unreachable, not closed yet, no such date)."""

    type = "api_error"
    http_status = 502

    def __init__(self, message: str) -> None:
        super().__init__(message, code="settlement_report_unavailable")


class SettlementReportChanged(PayplaneError):
    """The PSP's report of a date is not the one an earlier run reconciled."""

    type = "invalid_request_error"
    http_status = 409

    def __init__(self, source: str, day: str, run_id: str, before: str, now: str) -> None:
        super().__init__(
            f"The {source} report of {day} changed since run {run_id} reconciled it (sha256 "
            f"{before[:12]}... then, {now[:12]}... now). Nothing was posted. Supersede that run "
            "to reconcile the new report: its postings are reversed and the new ones made.",
            code="settlement_report_changed",
        )
