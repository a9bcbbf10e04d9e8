"""`python -m payplane.workers`: the worker process (resolver now; relay and more later)."""

from __future__ import annotations

import asyncio
import signal

import uvloop

from payplane.config import get_settings
from payplane.logging import configure_logging
from payplane.wiring import build
from payplane.workers.resolver import run_resolver


async def _main() -> None:
    settings = get_settings()
    container = await build(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    resolver = asyncio.create_task(
        run_resolver(
            container.payment_intents,
            interval=settings.resolver_interval_seconds,
            min_age_seconds=settings.resolver_min_age_seconds,
        )
    )
    await stop.wait()
    resolver.cancel()
    await container.aclose()


def main() -> None:
    configure_logging(get_settings().log_level)
    uvloop.run(_main())


if __name__ == "__main__":
    main()
