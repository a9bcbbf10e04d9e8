"""The one loop every background job runs in: repeat, back off when idle, never die."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger()


async def run_periodically(
    name: str, job: Callable[[], Awaitable[int]], *, interval: float
) -> None:
    """Run `job` until cancelled; it returns how much it did, and 0 means wait `interval`."""
    while True:
        try:
            done = await job()
        except Exception:
            # One bad round (PSP or database blip) must not end the loop; the next one retries.
            log.exception("background job round failed", job=name)
            done = 0
        if done:
            log.info("background job progressed", job=name, count=done)
            continue  # there may be more waiting
        await asyncio.sleep(interval)
