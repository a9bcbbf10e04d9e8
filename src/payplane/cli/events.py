"""`payplane events ...`: follow the event stream, an example consumer for finance and support.

A durable pull consumer remembers what it has acked, so a feed stopped with Ctrl-C resumes where
it left off; an event printed but not yet acked when it stopped comes again (at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

import orjson
import typer

from payplane.config import get_settings

events = typer.Typer(help="Follow Payplane's event stream on NATS.", no_args_is_help=True)

_FETCH_BATCH = 100
_FETCH_WAIT_SECONDS = 5.0


@events.command("tail")
def tail(
    durable: str = typer.Option(
        "payplane-tail",
        "--durable",
        help="consumer name; its position survives restarts, its subject and start are those it "
        "was created with",
    ),
    subject: str = typer.Option(
        "payplane.events.>",
        "--subject",
        help="filter, e.g. payplane.events.<merchant id>.payment_intent.>",
    ),
    from_start: bool = typer.Option(
        False,
        "--from-start",
        help="a new consumer starts at the stream's first event instead of the next new one",
    ),
) -> None:
    """Print one line per event (created, id, type, object id) until Ctrl-C.

    Reads PAYPLANE_NATS_URL, else the embedded server of `payplane up` on PAYPLANE_NATS_PORT.
    """
    settings = get_settings()
    url = settings.nats_url or f"nats://127.0.0.1:{settings.nats_port}"
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_tail(url, durable, subject, from_start=from_start))


async def _tail(url: str, durable: str, subject: str, *, from_start: bool) -> None:
    from nats.errors import TimeoutError as FetchTimeout
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    from payplane.adapters.broker.nats import STREAM, connect, ensure_stream

    nc, js = await connect(url)
    try:
        await ensure_stream(js)
        config = ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL if from_start else DeliverPolicy.NEW,
        )
        sub = await js.pull_subscribe(subject, durable=durable, stream=STREAM, config=config)
        while True:
            try:
                messages = await sub.fetch(_FETCH_BATCH, timeout=_FETCH_WAIT_SECONDS)
            except FetchTimeout:
                continue  # nothing new yet
            for message in messages:
                typer.echo(_line(orjson.loads(message.data)))
                await message.ack()
    finally:
        await nc.close()


def _line(event: dict[str, Any]) -> str:
    created = datetime.fromtimestamp(event["created"], UTC).isoformat(timespec="seconds")
    return f"{created}  {event['id']}  {event['type']}  {event['data']['object']['id']}"
