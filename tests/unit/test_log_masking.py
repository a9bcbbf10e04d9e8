"""Card numbers never reach a log line: structlog events, standard-library records, uvicorn's
access log, tracebacks; and error bodies mask what they quote."""

from __future__ import annotations

import io
import logging
import logging.config

import orjson
import structlog

from payplane.domain.errors import InvalidRequest, ResourceMissing
from payplane.logging import CardNumberFilter, mask_card_numbers, uvicorn_log_config
from payplane.services.responses import error_body

PAN = "4111111111111111"


def test_structlog_events_are_masked_keys_values_and_exceptions() -> None:
    try:
        raise ValueError(f"bad value {PAN}")
    except ValueError as exc:
        error = exc
    output = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(output),
        processors=[
            structlog.processors.format_exc_info,
            mask_card_numbers,
            structlog.processors.JSONRenderer(),
        ],
    )
    logger.error(f"saw {PAN}", note={"card": "4111 1111 1111 1111", PAN: 1}, exc_info=error)
    line = output.getvalue()
    assert PAN not in line
    assert "4111 1111 1111 1111" not in line
    event = orjson.loads(line)
    assert event["event"] == "saw ****1111"
    assert event["note"] == {"card": "****1111", "****1111": 1}
    assert "ValueError: bad value ****1111" in event["exception"]


def _capture(logger_name: str, formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(CardNumberFilter())
    logger = logging.getLogger(logger_name)
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_standard_library_records_are_masked_in_message_args_and_traceback() -> None:
    logger, stream = _capture("test.pan.stdlib", logging.Formatter("%(message)s"))
    logger.info("query %s took %d ms", f"SELECT '{PAN}'", 12)
    try:
        raise RuntimeError(PAN)
    except RuntimeError:
        logger.exception("failed on 5500-0055-5555-5559")
    text = stream.getvalue()
    assert PAN not in text
    assert "5500-0055-5555-5559" not in text
    assert "query SELECT '****1111' took 12 ms" in text
    assert "RuntimeError: ****1111" in text


def test_uvicorn_access_log_masks_the_query_string() -> None:
    loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    saved = [(lg.handlers[:], lg.propagate, lg.level, lg.filters[:]) for lg in loggers]
    stream = io.StringIO()
    config = uvicorn_log_config()
    config["handlers"]["access"]["stream"] = stream
    logging.config.dictConfig(config)
    try:
        for query in (PAN, "4111+1111+1111+1111", "4111%201111%201111%201111"):
            logging.getLogger("uvicorn.access").info(
                '%s - "%s %s HTTP/%s" %d',
                "127.0.0.1:5000",
                "GET",
                f"/v1/payment_intents?customer={query}",
                "1.1",
                400,
            )
    finally:
        for lg, (handlers, propagate, level, filters) in zip(loggers, saved, strict=True):
            lg.handlers, lg.propagate, lg.filters = handlers, propagate, filters
            lg.setLevel(level)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    for line in lines:
        assert "/v1/payment_intents?customer=****1111 HTTP/1.1" in line
        assert " 400" in line


def test_error_bodies_mask_quoted_input() -> None:
    missing = error_body(ResourceMissing("payment_intent", PAN))
    assert missing["error"]["message"] == "No such payment_intent: '****1111'"
    bad = error_body(InvalidRequest(f"Invalid parameter: m[{PAN}]", param=f"m[{PAN}]"))
    assert bad["error"]["param"] == "m[****1111]"
    assert PAN not in orjson.dumps(bad).decode()
