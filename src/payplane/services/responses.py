"""What a use case answers: an HTTP status and a Stripe body, stored for idempotent replay."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from payplane.domain import pan
from payplane.domain.errors import PayplaneError


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: dict[str, Any]
    replayed: bool = False


def error_body(error: PayplaneError, **extra: Any) -> dict[str, Any]:
    """Stripe's error object; absent fields are left out, as Stripe does. Messages and params
    may quote input (an unknown id, a bad parameter name): card numbers in them are masked."""
    body: dict[str, Any] = {"type": error.type, "message": pan.redact(error.message)}
    for name in ("code", "param", "decline_code"):
        value = getattr(error, name)
        if value is not None:
            body[name] = pan.redact(value)
    body.update(extra)
    return {"error": body}


def fingerprint(method: str, path: str, params: dict[str, Any]) -> str:
    """Identifies a request's meaning: the same key with another fingerprint is refused."""
    canonical = json.dumps([method, path, params], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
