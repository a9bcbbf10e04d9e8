"""`python -m payplane.workers`: the worker process running every background job."""

from __future__ import annotations

import asyncio
import signal

import uvloop

from payplane.config import get_settings
from payplane.logging import configure_logging
from payplane.wiring import build
from payplane.workers.loop import run_periodically


async def _main() -> None:
    settings = get_settings()
    container = await build(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    jobs = {
        "resolver": lambda: container.runner.resolve_due(
            limit=50, min_age_seconds=settings.resolver_min_age_seconds
        ),
        "refund_follow": lambda: container.refunds.follow_pending(limit=50),
        "authorization_expiry": lambda: container.payment_intents.expire_authorizations(limit=50),
    }
    tasks = [
        asyncio.create_task(
            run_periodically(name, job, interval=settings.resolver_interval_seconds)
        )
        for name, job in jobs.items()
    ]
    tasks.append(
        asyncio.create_task(
            run_periodically(
                "dispute_sync",
                lambda: container.disputes.sync(container.connector),
                interval=settings.dispute_sync_interval_seconds,
            )
        )
    )
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await container.aclose()


def main() -> None:
    configure_logging(get_settings().log_level)
    uvloop.run(_main())


if __name__ == "__main__":
    main()
