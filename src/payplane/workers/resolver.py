"""Resolves attempts left UNKNOWN or PENDING (timeouts, crashes) by asking the PSP."""

from __future__ import annotations

import asyncio

import structlog

from payplane.services.payment_intents import PaymentIntentService

log = structlog.get_logger()


async def run_resolver(
    service: PaymentIntentService, *, interval: float, min_age_seconds: float, batch: int = 50
) -> None:
    while True:
        try:
            closed = await service.resolve_due(limit=batch, min_age_seconds=min_age_seconds)
        except Exception:
            # One bad round (PSP or database blip) must not end the loop; the next round retries.
            log.exception("resolver round failed")
            closed = 0
        if closed:
            log.info("resolver closed attempts", count=closed)
            continue  # there may be more waiting
        await asyncio.sleep(interval)
