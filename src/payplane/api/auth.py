"""Secret-key authentication (Bearer, or Basic with the key as user name, as curl -u sends it)."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Protocol

from fastapi import Request

from payplane.domain.errors import AuthenticationFailed

# Lookups are cached briefly: a revoked key stops working within this many seconds.
CACHE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    merchant_id: str


class KeyLookup(Protocol):
    async def find(self, secret: str) -> tuple[str, str] | None:
        """(key id, merchant id) of an active secret key, or None."""
        ...


class Authenticator:
    def __init__(self, keys: KeyLookup) -> None:
        self._keys = keys
        self._cache: dict[str, tuple[float, Principal]] = {}

    async def __call__(self, request: Request) -> Principal:
        secret = _secret_from(request.headers.get("authorization", ""))
        cached = self._cache.get(secret)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        found = await self._keys.find(secret)
        if found is None:
            masked = secret[:8] + "*" * 4 + secret[-4:] if len(secret) > 12 else "****"
            raise AuthenticationFailed(f"Invalid API Key provided: {masked}")
        principal = Principal(*found)
        self._cache[secret] = (time.monotonic() + CACHE_SECONDS, principal)
        return principal


def _secret_from(header: str) -> str:
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        try:
            user = base64.b64decode(value.strip(), validate=True).decode().partition(":")[0]
        except ValueError:
            user = ""
        if user:
            return user
    raise AuthenticationFailed(
        "You did not provide an API key. You need to provide your API key in the Authorization "
        "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
    )
