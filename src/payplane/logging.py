"""structlog set-up shared by every process: JSON lines on stderr, card numbers masked.

Every log line passes a card-number mask, whichever logger wrote it: structlog events through a
processor, the standard library's records (uvicorn, psycopg, httpx...) through a filter on the
handlers. The API refuses card numbers, so a masked one in a log means something slipped past it.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, MutableMapping
from typing import Any
from urllib.parse import unquote_plus

import structlog

from payplane.domain import pan


def configure_logging(level: str) -> None:
    logging.basicConfig(format="%(message)s", level=level.upper())
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, CardNumberFilter) for f in handler.filters):
            handler.addFilter(CardNumberFilter())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.format_exc_info,
            mask_card_numbers,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(),
    )


def mask_card_numbers(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> Mapping[str, Any]:
    """structlog processor: every key and value of the event, exception text included."""
    masked: Mapping[str, Any] = pan.redact_values(dict(event_dict), mask_text)
    return masked


def mask_text(text: str) -> str:
    """pan.redact, seeing through URL encoding too: uvicorn logs the raw query string, where
    "dddd+dddd+dddd+dddd" is a card number written with spaces."""
    masked = pan.redact(text)
    if "%" in masked or "+" in masked:
        decoded = unquote_plus(masked)
        if pan.contains(decoded):
            return pan.redact(decoded)
    return masked


class CardNumberFilter(logging.Filter):
    """Masks a record's message, its arguments (uvicorn's access log keeps the URL there) and
    its traceback text before any formatter sees them."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_text(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_masked_arg(arg) for arg in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {key: _masked_arg(arg) for key, arg in record.args.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_text(self._formatter.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


def _masked_arg(arg: object) -> object:
    if isinstance(arg, int | float | bool) or arg is None:
        return arg  # keeps %d and friends working
    text = str(arg)
    masked = mask_text(text)
    if isinstance(arg, str) or masked != text:
        return masked
    return arg


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration with the card-number filter on each of its handlers
    (it replaces them when it starts, so a filter added beforehand would be lost)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"card_numbers": {"()": CardNumberFilter}}
    for handler in config["handlers"].values():
        handler["filters"] = ["card_numbers"]
    return config
