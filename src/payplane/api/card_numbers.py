"""The PAN guard: a request holding a card number anywhere is refused before any use case runs.

Card numbers belong to the card vault; the core must never store, log or publish one. Every
decoded body field at any depth (keys too), every query-string value, every path parameter and
every header is checked, so no endpoint can forget to. The error names the field (masked, since
a metadata key may be the number) and never repeats the number.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request

from payplane.domain import pan
from payplane.domain.errors import InvalidRequest

CODE = "card_number_in_field"

# Random trace and span ids (hex, or decimal span ids of up to 20 digits) routinely look like
# card numbers, and Payplane neither stores nor logs these headers.
_TRACE_HEADERS = frozenset(
    {
        "traceparent",
        "tracestate",
        "baggage",
        "b3",
        "x-b3-traceid",
        "x-b3-spanid",
        "x-b3-parentspanid",
        "x-amzn-trace-id",
        "x-cloud-trace-context",
        "uber-trace-id",
        "sentry-trace",
    }
)


def refuse_card_numbers(request: Request, params: dict[str, Any]) -> None:
    """`params`: what was decoded for the call (the query string of a GET, else the body)."""
    fields: Iterable[tuple[str, str]] = (
        *_tree(params, None),
        *(() if request.method == "GET" else _query(request.url.query)),
        *request.path_params.items(),
        *_headers(request.headers),
    )
    for param, value in fields:
        if pan.contains(param) or pan.contains(value):
            raise InvalidRequest(
                f"{pan.redact(param)} holds what looks like a card number. Card numbers must "
                "never be sent to this API: send them to the card vault, and use the payment "
                "method (pm_...) it returns.",
                code=CODE,
                param=pan.redact(param),
            )


def _tree(value: Any, path: str | None) -> Iterator[tuple[str, str]]:
    """(param, text) for every key and leaf; params named as Stripe does: metadata[note]."""
    if isinstance(value, dict):
        items: Iterable[tuple[Any, Any]] = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        yield (path or "body", "" if value is None else str(value))
        return
    if not value and path is not None:
        yield (path, "")  # an empty hash or list: its key is all there is to check
    for key, child in items:
        child_path = str(key) if path is None else f"{path}[{key}]"
        yield from _tree(child, child_path)


def _query(query: str) -> Iterator[tuple[str, str]]:
    # Only a GET's query string is decoded for the call, but proxies and access logs record
    # the query string of every method.
    yield from parse_qsl(query, keep_blank_values=True)


def _headers(headers: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    for name, value in headers.items():
        if name.lower() not in _TRACE_HEADERS:
            yield ("-".join(part.capitalize() for part in name.split("-")), value)
