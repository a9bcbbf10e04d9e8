"""Logging that cannot carry card data: JSON lines through a redacting processor.

Values under card-data keys (number, cvc, ...) are replaced whole, and any Luhn-valid 13-19 digit
number anywhere in an event, an exception text or a stdlib log record (uvicorn's) is masked to
its last four digits. The vault never logs card data on purpose; this catches accidents.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import structlog

from card_vault.cards import redact_pans

SENSITIVE_KEYS = frozenset({"number", "card_number", "cvc", "card[number]", "card[cvc]", "pan"})
REDACTED = "[redacted]"


def redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_pans(value)
    if isinstance(value, dict):
        return {
            key: REDACTED if str(key).lower() in SENSITIVE_KEYS else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        masked = redact_pans(str(value))
        return value if masked == str(value) else masked
    return value


def redacting_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    redacted: dict[str, Any] = redact(dict(event_dict))
    return redacted


class RedactingFilter(logging.Filter):
    """Masks card numbers in records of stdlib loggers (uvicorn, asyncio) before they are
    formatted; the arguments are merged into the message first so none escapes."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_pans(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = redact_pans(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    logging.basicConfig(format="%(message)s", level=level.upper(), handlers=[handler], force=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.format_exc_info,
            redacting_processor,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(),
    )
