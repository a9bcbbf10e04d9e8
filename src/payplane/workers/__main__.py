"""`python -m payplane.workers`: the worker process running every background job."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

import structlog
import uvloop

from payplane.config import get_settings
from payplane.logging import configure_logging
from payplane.services.idempotency import purge_expired
from payplane.wiring import build, outbox_relay
from payplane.workers.loop import run_periodically
from payplane.workers.webhooks import run_webhooks

log = structlog.get_logger()


async def _main() -> None:
    settings = get_settings()
    container = await build(settings, service="core-worker")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    every = settings.resolver_interval_seconds
    jobs: list[tuple[str, Callable[[], Awaitable[int]], float]] = [
        (
            "resolver",
            lambda: container.runner.resolve_due(
                limit=50, min_age_seconds=settings.resolver_min_age_seconds
            ),
            every,
        ),
        ("refund_follow", lambda: container.refunds.follow_pending(limit=50), every),
        (
            "authorization_expiry",
            lambda: container.payment_intents.expire_authorizations(limit=50),
            every,
        ),
        (
            "dispute_sync",
            lambda: container.disputes.sync(container.connectors.primary),
            settings.dispute_sync_interval_seconds,
        ),
        ("psp_inbox", container.inbox.run_due, settings.inbox_poll_seconds),
        ("janitor", lambda: container.janitor.sweep(limit=100), settings.janitor_interval_seconds),
        (
            "action_follow",
            lambda: container.customer_actions.follow(limit=50),
            settings.action_follow_interval_seconds,
        ),
        (
            "idempotency_purge",
            lambda: purge_expired(
                container.uow, retention_days=settings.idempotency_retention_days, limit=1000
            ),
            60.0,
        ),
        # Publishable keys the card vault missed (it was down when they were made), from the
        # worker's start on.
        (
            "publishable_keys",
            lambda: container.payment_methods.register_publishable_keys(limit=100),
            10.0,
        ),
        # Audit rows are hash-chained here, off the request path (adapters/db/audit_chain.py).
        ("audit_seal", lambda: container.audit_sealer.seal(limit=1000), 1.0),
        # Yesterday's settlement reports from PAYPLANE_RECONCILE_AT (UTC) on; a minute's wait
        # between tries, and a run that exists already is not made again.
        (
            "reconcile_daily",
            lambda: container.reconciliation.run_daily(settings.reconcile_at),
            60.0,
        ),
    ]
    tasks = [
        asyncio.create_task(run_periodically(name, job, interval=interval))
        for name, job, interval in jobs
    ]
    if settings.nats_url is None:
        # Processes started alone (benchmarks, scripts) may run without NATS; `payplane up`
        # always passes one.
        log.warning("PAYPLANE_NATS_URL is not set: the outbox relay does not run")
    else:
        tasks.append(asyncio.create_task(outbox_relay(settings).run()))
    tasks.append(asyncio.create_task(run_webhooks(container)))
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
