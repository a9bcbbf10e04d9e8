"""Reading request bodies: a size cap enforced while reading, and the accepted encodings.

Form bodies use Stripe's bracket keys (card[number]=...), decoded one level deep, which is all
the vault's parameters need; JSON bodies are objects.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request

from card_vault.cards import redact_pans
from card_vault.errors import VaultError, invalid

MAX_BODY_BYTES = 16 * 1024
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
_KEY = re.compile(r"^([A-Za-z_]+)(?:\[([A-Za-z_]+)\])?$")


def too_large() -> VaultError:
    return invalid(
        "request_too_large",
        f"The request body is larger than {MAX_BODY_BYTES} bytes; nothing was stored.",
        status=413,
    )


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def check_media_type(request: Request, accepted: tuple[str, ...]) -> str:
    kind = media_type(request)
    if kind not in accepted:
        shown = f"'{kind}'" if kind else "none"
        raise invalid(
            "unsupported_media_type",
            f"Unsupported Content-Type {shown}: send {' or '.join(accepted)}. Nothing was stored.",
            status=415,
        )
    return kind


async def read_body(request: Request) -> bytes:
    """The body, refused with 413 once it passes the cap (before reading it all when the
    client announces its length)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large()
        chunks.append(chunk)
    return b"".join(chunks)


async def decode(request: Request, accepted: tuple[str, ...] = (FORM, JSON)) -> dict[str, Any]:
    kind = check_media_type(request, accepted)
    body = await read_body(request)
    if kind == JSON:
        return _json_object(body)
    return _form(body)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        # The parser's message may quote the body, which may hold card data.
        raise invalid("invalid_request_body", "The request body is not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise invalid("invalid_request_body", "The JSON request body must be an object.")
    return parsed


def _form(body: bytes) -> dict[str, Any]:
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
    except ValueError:  # includes UnicodeDecodeError
        raise invalid(
            "invalid_request_body", "The form-encoded request body could not be parsed."
        ) from None
    params: dict[str, Any] = {}
    for name, value in pairs:
        match = _KEY.match(name)
        if match is None:
            shown = redact_pans(name[:60])
            raise invalid("parameter_unknown", f"Received unknown parameter: {shown}", shown)
        head, sub = match.groups()
        if sub is None:
            params[head] = value
            continue
        group = params.setdefault(head, {})
        if not isinstance(group, dict):
            raise invalid("parameter_invalid", f"Invalid parameter: {name}", name)
        group[sub] = value
    return params
