"""Settlement report parsing: typed lines with exact minor units, and a precise refusal of any
report that breaks the format (nothing of it is used)."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payplane.domain import currencies
from payplane.domain.money import Money, minor_units
from payplane.domain.settlement import HEADER, MalformedReport, parse_report

_HEADER = ",".join(HEADER)


def _row(**cells: str) -> str:
    """A Settled USD line of 10.00 with 0.39 commission; `cells` override columns by index
    name (c0 ... c17)."""
    row = [
        "PayplaneSim", "PayplaneSimMerchant", "psp_1", "pi_1", "visa", "2025-03-01 10:11:12",
        "UTC", "Settled", "psp_1", "USD", "", "10.00", "1", "USD", "", "9.61", "0.39", "7",
    ]  # fmt: skip
    for name, value in cells.items():
        row[int(name[1:])] = value
    return ",".join(row)


def _report(*rows: str) -> bytes:
    return ("\r\n".join([_HEADER, *rows]) + "\r\n").encode()


def test_every_line_type_parses_into_minor_units() -> None:
    data = _report(
        _row(),
        _row(c7="Refunded", c8="psr_1", c10="2.50", c11="", c14="2.50", c15="", c16=""),
        _row(c7="Chargeback", c8="psd_1", c10="10.00", c11="", c14="10.00", c15="", c16=""),
        _row(c7="Fee", c8="psd_1", c9="", c10="", c11="", c14="15.00", c15="", c16=""),
        _row(c7="ChargebackReversed", c8="psd_1", c11="10.00", c15="10.00", c16=""),
        _row(c2="", c3="", c4="", c7="MerchantPayout", c8="payout_7", c9="", c11="", c14="0.11",
             c15="", c16=""),
    )  # fmt: skip

    settled, refunded, chargeback, fee, reversed_, payout = list(parse_report(data))

    assert settled.line_no == 2
    assert settled.created_at == datetime(2025, 3, 1, 10, 11, 12)
    assert (settled.type, settled.currency, settled.batch_number) == ("Settled", "usd", 7)
    assert (settled.gross_credit, settled.net_credit, settled.commission) == (1000, 961, 39)
    assert (refunded.gross_debit, refunded.net_debit, refunded.commission) == (250, 250, None)
    assert (chargeback.modification_reference, chargeback.net_debit) == ("psd_1", 1000)
    assert (fee.gross_debit, fee.net_debit) == (None, 1500)
    assert reversed_.net_credit == 1000
    assert (payout.psp_reference, payout.net_debit, payout.line_no) == (None, 11, 7)


def test_a_capture_whose_fee_exceeds_it_has_a_negative_net() -> None:
    (line,) = list(parse_report(_report(_row(c11="0.10", c15="-0.15", c16="0.25"))))
    assert (line.gross_credit, line.net_credit, line.commission) == (10, -15, 25)


def test_an_empty_report_has_no_lines() -> None:
    assert list(parse_report(_report())) == []


@pytest.mark.parametrize(
    ("currency", "text", "minor"),
    [("JPY", "1000", 1000), ("KWD", "1.005", 1005), ("EUR", "0.5", 50), ("CLF", "1.2345", 12345)],
)
def test_amounts_follow_the_currency_exponent(currency: str, text: str, minor: int) -> None:
    commission = "0" if currency == "JPY" else "0.0"
    row = _row(c9=currency, c13=currency, c11=text, c15=text, c16=commission)
    (line,) = list(parse_report(_report(row)))
    assert (line.currency, line.gross_credit) == (currency.lower(), minor)


@given(
    st.sampled_from(sorted(currencies.EXPONENTS)),
    st.integers(min_value=-(10**15), max_value=10**15),
)
def test_minor_units_invert_money_to_decimal(currency: str, amount: int) -> None:
    assert minor_units(f"{Money(amount, currency).to_decimal():f}", currency) == amount


@pytest.mark.parametrize(
    ("data", "line", "column", "message"),
    [
        (b"\xef\xbb\xbf" + _report(_row()), 1, None, "byte order mark"),
        (_report(_row()).replace(b"Batch Number", b"Batch"), 1, None, "header"),
        (_report(_row() + ",extra"), 2, None, "19 fields"),
        (_report(_row(c7="Adjustment")), 2, "Type", "unknown type"),
        (_report(_row(c6="CET")), 2, "TimeZone", "expected UTC"),
        (_report(_row(c12="1.1")), 2, "Exchange Rate", "only 1"),
        (_report(_row(c11="10.001", c15="9.611")), 2, "Gross Credit (GC)", "3 decimals; USD has 2"),
        (_report(_row(c11="-10.00", c15="-10.39")), 2, "Gross Credit (GC)", "negative"),
        (_report(_row(c16="-0.39", c15="10.39")), 2, "Commission (NC)", "negative"),
        (_report(_row(c11="1e3")), 2, "Gross Credit (GC)", "not a decimal"),
        (_report(_row(c11="+10.00")), 2, "Gross Credit (GC)", "not a decimal"),
        (_report(_row(c9="US", c13="US")), 2, "Net Currency", "not an ISO 4217 code"),
        (_report(_row(c9="EUR")), 2, "Gross Currency", "differs from net currency"),
        (_report(_row(c15="9.60")), 2, "Net Credit (NC)", "gross credit minus commission"),
        (_report(_row(c16="")), 2, "Commission (NC)", "required on a Settled line"),
        (_report(_row(c10="1.00")), 2, "Gross Debit (GC)", "must be empty"),
        (_report(_row(c2="")), 2, "Psp Reference", "required"),
        (_report(_row(c5="2025-02-30 10:00:00")), 2, "Creation Date", "not a UTC date"),
        (_report(_row(c5="2025-03-01 10:00:00+02:00")), 2, "Creation Date", "not a UTC date"),
        (_report(_row(c17="0")), 2, "Batch Number", "not a batch number"),
        (
            _report(_row(c7="Refunded", c10="2.50", c11="", c14="2.40", c15="", c16="")),
            2, "Net Debit (NC)", "differs from gross",
        ),
        (
            _report(_row(c7="Refunded", c10="2.50", c11="", c14="2.50", c15="", c16="0.10")),
            2, "Commission (NC)", "carries no commission",
        ),
        (
            _report(_row(c7="MerchantPayout", c11="", c14="1.00", c15="1.00", c16="")),
            2, None, "exactly one of net debit and net credit",
        ),
        (_report(_row(), _row(c3='"pi_1')), 3, None, "not RFC 4180"),
        (_report(_row()) + b"\xff", 3, None, "not valid UTF-8"),
        (b"", 1, None, "header"),
    ],
)  # fmt: skip
def test_a_malformed_report_is_refused_where_it_breaks(
    data: bytes, line: int, column: str | None, message: str
) -> None:
    with pytest.raises(MalformedReport) as raised:
        list(parse_report(data))

    assert (raised.value.line, raised.value.column) == (line, column)
    assert message in raised.value.message
    assert raised.value.code == "settlement_report_malformed"
    assert "Nothing was stored or posted" in raised.value.message
