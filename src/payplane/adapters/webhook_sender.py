"""Sends merchant webhooks over HTTP, signed the way Stripe signs them (Stripe-Signature).

The header is "t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>' keyed with the endpoint's
whsec_ secret>", which stripe.Webhook.construct_event in Stripe's SDKs verifies.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time

import httpx

from payplane.services.webhook_ports import SendResult

USER_AGENT = "Payplane/1.0"
_MAX_RESPONSE_BYTES = 64 * 1024  # the body is not used; a huge one must not cost memory


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class HttpWebhookSender:
    def __init__(self, *, timeout_seconds: float, max_connections: int) -> None:
        self._timeout = timeout_seconds
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            follow_redirects=False,  # Stripe treats a redirect as a failed delivery too
            trust_env=False,
        )

    async def send(self, url: str, secret: str, body: bytes) -> SendResult:
        started = time.monotonic()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "Stripe-Signature": signature_header(secret, body, int(time.time())),
        }
        try:
            # The whole exchange, not each read, is bounded: a trickling endpoint times out too.
            async with asyncio.timeout(self._timeout):
                async with self._client.stream("POST", url, content=body, headers=headers) as r:
                    read = 0
                    async for chunk in r.aiter_raw():
                        read += len(chunk)
                        if read > _MAX_RESPONSE_BYTES:
                            break
                    status = r.status_code
        except (TimeoutError, httpx.TimeoutException):
            return SendResult(False, _ms(started), error=f"timed out after {self._timeout:g} s")
        except Exception as exc:  # refused, reset, bad TLS, unusable URL: all a failed attempt
            return SendResult(False, _ms(started), error=f"{type(exc).__name__}: {exc}"[:500])
        return SendResult(200 <= status < 300, _ms(started), status_code=status)

    async def aclose(self) -> None:
        await self._client.aclose()


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
