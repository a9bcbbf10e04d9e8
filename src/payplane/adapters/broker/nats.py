"""Payplane's JetStream stream, connections to it, and the outbox relay's publisher.

The contract consumers rely on: stream PAYPLANE_EVENTS over subjects
`payplane.events.<merchant_id>.<event type>` (the type's dots make further tokens, so
`payplane.events.acct_1.payment_intent.>` works), file storage, a two-minute duplicate window.
Each message body is the Stripe event JSON exactly as GET /v1/events/{id} returns it, and its
Nats-Msg-Id header is the event id: delivery is at least once, consumers dedup on that id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import nats
import nats.errors
import orjson
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import PubAck, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from payplane.services.relay import OutboxEvent

STREAM = "PAYPLANE_EVENTS"
SUBJECTS = "payplane.events.>"
DUPLICATE_WINDOW_SECONDS = 120.0

log = structlog.get_logger()


def subject_for(merchant_id: str, event_type: str) -> str:
    return f"payplane.events.{merchant_id}.{event_type}"


async def connect(url: str, *, reconnect: bool = True) -> tuple[NATS, JetStreamContext]:
    """A connection and its JetStream context. With `reconnect` it retries forever, the first
    connection included; without, it gives up after two tries and closes at a disconnect."""
    nc = await nats.connect(
        url,
        name="payplane",
        allow_reconnect=reconnect,
        # nats-py retries even the first connection; a positive limit is its only way to give up.
        max_reconnect_attempts=-1 if reconnect else 1,
        error_cb=_log_error,
    )
    return nc, nc.jetstream()


async def ensure_stream(js: JetStreamContext) -> None:
    """Create the stream if it is missing; an existing one is left as operators tuned it."""
    try:
        await js.stream_info(STREAM)
    except NotFoundError:
        # Creating with an identical config is idempotent, so racing processes both succeed.
        await js.add_stream(
            StreamConfig(
                name=STREAM,
                subjects=[SUBJECTS],
                storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_SECONDS,
            )
        )


class JetStreamPublisher:
    """Publishes a batch pipelined on one connection: every message is sent before the first
    PubAck is awaited, in order, so one round trip serves the whole batch.

    The connection never reconnects by itself and is dropped after any failure. A reconnecting
    client would replay its buffered messages after the socket broke, and those could overtake
    an earlier message that was lost with the socket; a fresh connection starts empty, and the
    old socket delivered at most a prefix of the batch, so order per payment survives. (A message
    the server itself refused while storing the ones after it would still fall behind them; the
    stream sets no limits that refuse messages, so only a broken server, e.g. a full disk, could.)
    """

    def __init__(self, url: str, *, ack_timeout: float) -> None:
        self._url = url
        self._ack_timeout = ack_timeout
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None

    async def publish(self, events: Sequence[OutboxEvent]) -> int:
        try:
            js = await self._connected()
        except (OSError, TimeoutError, nats.errors.Error) as exc:
            log.warning("NATS unreachable, outbox relay waits", error=repr(exc))
            await self.close()
            return 0
        futures: list[asyncio.Future[PubAck]] = []
        try:
            for event in events:
                futures.append(
                    await js.publish_async(
                        subject_for(event.merchant_id, event.type),
                        orjson.dumps(event.body),
                        stream=STREAM,
                        headers={"Nats-Msg-Id": event.id},
                    )
                )
        except (OSError, nats.errors.Error) as exc:
            log.warning("publishing to NATS failed", error=repr(exc))
        if futures:
            await asyncio.wait(futures, timeout=self._ack_timeout)
        acked = _acked_prefix(futures)
        duplicates = sum(1 for future in futures[:acked] if future.result().duplicate)
        if duplicates:
            # Published before, by a relay that died before marking them: the dedup at work.
            log.info("JetStream dropped re-published events", count=duplicates)
        if acked < len(events):
            log.warning("NATS acknowledged part of a batch", acked=acked, sent=len(events))
            await self.close()
        return acked

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            try:
                await nc.close()
            except (OSError, nats.errors.Error) as exc:
                log.warning("closing the NATS connection failed", error=repr(exc))

    async def _connected(self) -> JetStreamContext:
        if self._nc is None or self._js is None or not self._nc.is_connected:
            await self.close()
            self._nc, self._js = await connect(self._url, reconnect=False)
            await ensure_stream(self._js)
        return self._js


def _acked_prefix(futures: Sequence[asyncio.Future[PubAck]]) -> int:
    for future in futures:
        future.cancel()  # no-op once done; else releases its slot among the pending publishes
    # Every outcome is read, also past the first failure, so none is reported as unretrieved.
    acked = [not future.cancelled() and future.exception() is None for future in futures]
    return acked.index(False) if False in acked else len(acked)


async def _log_error(exc: Exception) -> None:
    # nats-py's default logs a full traceback for every failed reconnect.
    log.warning("NATS client error", error=repr(exc))
