"""The vault's log redaction: no card number or CVC survives into a log line."""

from __future__ import annotations

import logging
import sys

from card_vault.logs import RedactingFilter, redacting_processor

PAN = "4242424242424242"


def test_the_processor_masks_numbers_and_drops_card_fields() -> None:
    event = redacting_processor(
        None,
        "info",
        {
            "event": f"charging {PAN} now",
            "card": {"number": "5555555555554444", "cvc": "123", "exp_month": 12},
            "body": [{"pan_as_int": int(PAN)}, "4000 0566 5566 5556"],
            "amount": 2000,
            "reference": "order-4242424242424241",  # not Luhn-valid: not a card number
        },
    )
    assert event == {
        "event": "charging [PAN ...4242] now",
        "card": {"number": "[redacted]", "cvc": "[redacted]", "exp_month": 12},
        "body": [{"pan_as_int": "[PAN ...4242]"}, "[PAN ...5556]"],
        "amount": 2000,
        "reference": "order-4242424242424241",
    }


def test_stdlib_records_and_tracebacks_are_masked() -> None:
    try:
        raise ValueError(f"bad card {PAN}")
    except ValueError:
        record = logging.LogRecord(
            "uvicorn.error", logging.ERROR, __file__, 1, "request %s failed for %s",
            ("POST /v1/payment_methods", PAN), sys.exc_info(),
        )  # fmt: skip
    assert RedactingFilter().filter(record)
    line = logging.Formatter("%(message)s").format(record)
    assert PAN not in line
    assert "request POST /v1/payment_methods failed for [PAN ...4242]" in line
    assert "ValueError: bad card [PAN ...4242]" in line
