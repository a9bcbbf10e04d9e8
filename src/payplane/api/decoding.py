"""Stripe's request encodings: form bodies with bracket keys (metadata[k]=v, expand[]=x,
created[gte]=1) and JSON bodies, both decoded to one nested dict."""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Any
from urllib.parse import parse_qsl

import orjson

from payplane.domain.errors import InvalidRequest

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
MAX_BODY_BYTES = 256 * 1024


def _bad_body(message: str) -> InvalidRequest:
    return InvalidRequest(message, code="invalid_request_body")


def decode_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for raw_key, value in pairs:
        match = _KEY.match(raw_key)
        if match is None:
            raise InvalidRequest(
                f"Invalid parameter name: {raw_key}", code="parameter_invalid", param=raw_key
            )
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        _assign(result, parts, value, raw_key)
    return result


def _assign(target: dict[str, Any], parts: list[str], value: str, raw_key: str) -> None:
    # Only `[]` makes a list. `[0]`, `[1]` are kept as dict keys because Stripe's libraries
    # send both lists (expand[0]=...) and hashes with numeric keys (metadata[5]=...) that way;
    # the schema of each parameter knows which it is (see schemas.StripeList).
    node: Any = target
    for part, following in pairwise(parts):
        node = _slot(node, part, [] if following == "" else {}, raw_key)
    _slot(node, parts[-1], value, raw_key, replace=True)


def _slot(node: Any, part: str, default: Any, raw_key: str, *, replace: bool = False) -> Any:
    """The child `part` of `node`, created as `default` if missing (or set to it if replace)."""
    if isinstance(node, list) and part == "":
        node.append(default)
        return default
    if isinstance(node, dict) and part:
        if replace:
            node[part] = default
            return default
        return node.setdefault(part, default)
    raise InvalidRequest(f"Invalid parameter: {raw_key}", code="parameter_invalid", param=raw_key)


def decode_body(content_type: str, body: bytes) -> dict[str, Any]:
    if len(body) > MAX_BODY_BYTES:
        raise _bad_body(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    if not body.strip():
        return {}
    media_type = content_type.split(";", maxsplit=1)[0].strip().lower()
    if media_type == "application/json":
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise _bad_body(f"Invalid JSON in the request body: {exc}") from None
        if not isinstance(parsed, dict):
            raise _bad_body("The JSON request body must be an object.")
        return parsed
    if media_type in ("application/x-www-form-urlencoded", ""):
        try:
            pairs = parse_qsl(
                body.decode(), keep_blank_values=True, strict_parsing=True, max_num_fields=1000
            )
        except ValueError:  # includes UnicodeDecodeError
            raise _bad_body("The form-encoded request body could not be parsed.") from None
        return decode_pairs(pairs)
    raise _bad_body(
        f"Unsupported Content-Type '{media_type}'. Send application/x-www-form-urlencoded "
        "(as Stripe's libraries do) or application/json."
    )


def decode_query(query: str) -> dict[str, Any]:
    try:
        return decode_pairs(parse_qsl(query, keep_blank_values=True, max_num_fields=1000))
    except ValueError:
        raise InvalidRequest(
            "The query string could not be parsed.", code="invalid_request_body"
        ) from None
