"""The EventFeed port on NATS JetStream: the durable pull consumer "webhook-fanout".

Every dispatcher binds to the same durable consumer, so they share the stream's messages; one
not acknowledged within `ack_wait_seconds` (its dispatcher died) is handed out again.
"""

from __future__ import annotations

import asyncio
import contextlib

import nats.errors
import orjson
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from payplane.adapters.broker.nats import STREAM, SUBJECTS
from payplane.services.webhook_ports import FeedMessage

log = structlog.get_logger()

DURABLE = "webhook-fanout"
MAX_ACK_PENDING = 20_000
_DRAIN_SECONDS = 0.002


def _event_id(msg: Msg) -> str | None:
    header = (msg.headers or {}).get("Nats-Msg-Id")
    if header:
        return header
    try:
        return str(orjson.loads(msg.data)["id"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None


class _Message:
    def __init__(self, msg: Msg, event_id: str) -> None:
        self._msg = msg
        self._event_id = event_id

    @property
    def event_id(self) -> str:
        return self._event_id

    async def ack(self) -> None:
        await self._msg.ack()

    async def nak(self) -> None:
        await self._msg.nak()


class JetStreamFeed:
    def __init__(self, subscription: JetStreamContext.PullSubscription) -> None:
        self._sub = subscription

    @classmethod
    async def bind(cls, js: JetStreamContext, *, ack_wait_seconds: float) -> JetStreamFeed:
        config = ConsumerConfig(
            durable_name=DURABLE,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=ack_wait_seconds,
            max_ack_pending=MAX_ACK_PENDING,
            filter_subject=SUBJECTS,
        )
        subscription = await js.pull_subscribe(
            SUBJECTS, durable=DURABLE, stream=STREAM, config=config
        )
        return cls(subscription)

    async def fetch(self, batch: int, wait_seconds: float) -> list[FeedMessage]:
        # A long poll for one message returns the moment it arrives; a long poll for a batch
        # may hold the first messages until the batch fills or the wait ends. So: wait for one,
        # then take what else is there right away.
        try:
            messages = await self._sub.fetch(1, timeout=wait_seconds)
        except (TimeoutError, nats.errors.TimeoutError):
            return []
        except nats.errors.Error as exc:
            # Disconnected: the client reconnects by itself; try again after the wait.
            log.warning("fetching from the event stream failed", error=repr(exc))
            await asyncio.sleep(wait_seconds)
            return []
        if batch > 1:
            with contextlib.suppress(TimeoutError, nats.errors.Error):
                messages += await self._sub.fetch(batch - 1, timeout=_DRAIN_SECONDS)
        usable: list[FeedMessage] = []
        for msg in messages:
            event_id = _event_id(msg)
            if event_id is None:
                log.error("unreadable message on the event stream", subject=msg.subject)
                await msg.term()  # redelivering it would never help
            else:
                usable.append(_Message(msg, event_id))
        return usable
