"""`python -m payplane.workers.relay`: the outbox relay alone.

The worker process runs the relay too; this one exists to scale or isolate it. Any number of
copies may run: one leads, the others wait to take over.
"""

from __future__ import annotations

import asyncio
import signal

import uvloop

from payplane.config import get_settings
from payplane.logging import configure_logging
from payplane.wiring import outbox_relay


async def _main() -> None:
    relay = asyncio.create_task(outbox_relay(get_settings()).run())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    relay.cancel()
    await asyncio.gather(relay, return_exceptions=True)


def main() -> None:
    configure_logging(get_settings().log_level)
    uvloop.run(_main())


if __name__ == "__main__":
    main()
