"""The settlement details report as CSV: RFC 4180, CRLF line ends, UTF-8 without a BOM."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterable

from psp_simulator.currencies import to_decimal
from psp_simulator.settlement_lines import SettlementLine

COMPANY_ACCOUNT = "PayplaneSim"
MERCHANT_ACCOUNT = "PayplaneSimMerchant"
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


def render(lines: Iterable[SettlementLine], batch_number: int) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(_row(line, batch_number) for line in lines)
    return buffer.getvalue().encode()


def _row(line: SettlementLine, batch_number: int) -> tuple[str, ...]:
    currency = line.currency.upper()
    has_gross = line.gross_debit is not None or line.gross_credit is not None

    def amount(value: int | None) -> str:
        return "" if value is None else to_decimal(value, line.currency)

    return (
        COMPANY_ACCOUNT,
        MERCHANT_ACCOUNT,
        line.psp_reference,
        line.merchant_reference,
        line.payment_method,
        time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(line.created)),
        "UTC",
        line.type,
        line.modification_reference,
        currency if has_gross else "",
        amount(line.gross_debit),
        amount(line.gross_credit),
        "1",
        currency,
        amount(line.net_debit),
        amount(line.net_credit),
        amount(line.commission),
        str(batch_number),
    )
