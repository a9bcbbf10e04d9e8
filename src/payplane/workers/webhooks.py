"""The worker's merchant webhook jobs: fan-out from the event stream, and delivery.

Delivery runs whatever NATS does (retries and resends need only the database); fan-out binds
the durable consumer once NATS answers, and keeps retrying until it does.
"""

from __future__ import annotations

import asyncio
import signal

import structlog
import uvloop

from payplane.adapters.broker.nats import connect, ensure_stream
from payplane.adapters.webhook_feed import JetStreamFeed
from payplane.config import get_settings
from payplane.logging import configure_logging
from payplane.services.dispatch import WebhookDispatcher
from payplane.wiring import Container, build, webhook_dispatcher
from payplane.workers.loop import run_periodically

log = structlog.get_logger()
_RETRY_SECONDS = 1.0


async def run_webhooks(container: Container) -> None:
    """Run until cancelled."""
    dispatcher = webhook_dispatcher(container)
    delivery = asyncio.create_task(dispatcher.deliver_forever())
    try:
        if container.settings.nats_url is None:
            log.warning("PAYPLANE_NATS_URL is not set: webhook fan-out does not run")
            await delivery
        else:
            await _fan_out(dispatcher, container.settings.nats_url, container)
    finally:
        delivery.cancel()
        await asyncio.gather(delivery, return_exceptions=True)
        await dispatcher.aclose()


async def _fan_out(dispatcher: WebhookDispatcher, url: str, container: Container) -> None:
    while True:
        nc, js = await connect(url)  # retries until NATS answers
        try:
            await ensure_stream(js)
            feed = await JetStreamFeed.bind(
                js, ack_wait_seconds=container.settings.webhook_fanout_ack_wait_seconds
            )
            break
        except Exception:
            log.exception("binding the webhook fan-out consumer failed; retrying")
            await nc.close()
            await asyncio.sleep(_RETRY_SECONDS)
    try:
        await run_periodically("webhook_fanout", lambda: dispatcher.fan_out(feed), interval=0.05)
    finally:
        await nc.close()


async def _main() -> None:
    """`python -m payplane.workers.webhooks`: only the webhook jobs, to scale or isolate them
    (the worker process runs them too; any number of copies share the work)."""
    container = await build(get_settings())
    jobs = asyncio.create_task(run_webhooks(container))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    jobs.cancel()
    await asyncio.gather(jobs, return_exceptions=True)
    await container.aclose()


def main() -> None:
    configure_logging(get_settings().log_level)
    uvloop.run(_main())


if __name__ == "__main__":
    main()
