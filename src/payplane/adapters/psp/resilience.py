"""Retry with exponential backoff and full jitter, and a circuit breaker per connector.

Only failures that prove the PSP did nothing are retried (connection refused, 503, 429): a call
that may have reached the PSP is never blindly repeated here - that is the resolver's job.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)


class NotSent(Exception):
    """The PSP provably did not act on the request (refused, unreachable, or circuit open)."""


class Resilience:
    def __init__(
        self,
        name: str,
        *,
        max_attempts: int,
        failure_threshold: int,
        reset_seconds: float,
    ) -> None:
        self._name = name
        self._max_attempts = max_attempts
        self._breakers = AsyncCircuitBreakerFactory(
            default_threshold=failure_threshold, default_ttl=reset_seconds
        )

    async def call(self, send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        """Send with retries; raises NotSent when every try was refused or the breaker is open."""
        breaker = await self._breakers.get_breaker(self._name)
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(NotSent),
                stop=stop_after_attempt(self._max_attempts),
                wait=wait_random_exponential(multiplier=0.05, max=1.0),
                reraise=True,
            ):
                with attempt:
                    async with breaker:
                        return await self._send_once(send)
        except OpenedState as exc:
            raise NotSent(f"circuit open for {self._name}") from exc
        raise AssertionError("unreachable: tenacity either returns or re-raises")

    async def _send_once(self, send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        try:
            response = await send()
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise NotSent(str(exc)) from exc
        if response.status_code in (429, 503):
            raise NotSent(f"PSP answered {response.status_code}")
        return response
