"""Authentication of secret keys, restricted keys and operators' tokens (Bearer, or Basic with
the key as user name, as curl -u sends it). What the caller may do is api/access.py's business."""

from __future__ import annotations

import base64
import hmac
import time
from typing import Protocol

from fastapi import Request

from payplane.domain import access
from payplane.domain.access import Principal
from payplane.domain.errors import AuthenticationFailed


class KeyLookup(Protocol):
    async def find(self, secret: str) -> Principal | None:
        """The caller behind an active secret key, restricted key or operator's token, or None."""
        ...


class Authenticator:
    """Lookups are cached for `cache_seconds`: a revoked key, a deactivated operator or changed
    roles take effect within that time. `operator_token` (PAYPLANE_OPERATOR_TOKEN), when set,
    is the platform account's secret key."""

    def __init__(
        self, keys: KeyLookup, *, cache_seconds: float, operator_token: str | None
    ) -> None:
        self._keys = keys
        self._cache_seconds = cache_seconds
        self._operator_token = operator_token
        self._cache: dict[str, tuple[float, Principal]] = {}

    async def __call__(self, request: Request) -> Principal:
        secret = _secret_from(request.headers.get("authorization", ""))
        if self._operator_token and hmac.compare_digest(
            secret.encode(), self._operator_token.encode()
        ):
            return access.operator_token()
        cached = self._cache.get(secret)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        found = await self._keys.find(secret)
        if found is None:
            masked = secret[:8] + "*" * 4 + secret[-4:] if len(secret) > 12 else "****"
            raise AuthenticationFailed(f"Invalid API Key provided: {masked}")
        self._cache[secret] = (time.monotonic() + self._cache_seconds, found)
        return found


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
