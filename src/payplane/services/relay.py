"""The outbox relay: publishes committed events to the event bus in commit order per payment.

Order. `events.seq` comes from an identity sequence, drawn at INSERT time, so seq order is not
commit order: a transaction may draw seq 10, commit after another one drew 11 and committed. The
invariant that restores order where it matters: every transaction that writes events for a
payment holds that payment intent's row lock (SELECT ... FOR UPDATE, or the uncommitted INSERT of
the intent itself) from before its first event INSERT until it commits. A second transaction of
the same payment therefore draws its seqs only after the first one committed, so within one
payment seq order is commit order, and whenever a row of payment P is visible every lower-seq
row of P is visible too. The relay reads unpublished rows ORDER BY seq and marks only an acked
prefix of them; so an event of P is never published while an earlier event of P is unpublished.
A late commit of a lower seq of ANOTHER payment (10 of Q seen after 11 of P was published) is
harmless: it is simply published later, and no order between different payments is promised.

Several relays. Only the holder of a session-level PostgreSQL advisory lock publishes; the
others try again every `retry_seconds`. The lock lives with the leader's database connection,
so a crashed leader frees it without any lease to expire. One publisher at a time keeps the
per-payment order; overlap is possible only while a leader that lost its connection still
publishes, and then both send the same events in order, which JetStream's first-wins dedup on
Nats-Msg-Id merges without reordering.

At least once. Rows are marked published only after their PubAck. A crash between the PubAck and
the UPDATE publishes them again after the takeover; JetStream drops the copy (duplicate window on
Nats-Msg-Id = event id) and consumers deduplicate on the event id anyway.

Wake-ups. The leader LISTENs (a trigger NOTIFYs at every events INSERT) and also polls every
`poll_seconds`, so a lost notification only delays.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    id: str
    seq: int
    merchant_id: str
    type: str
    payment_intent_id: str | None
    body: dict[str, Any]  # the Stripe event object, as GET /v1/events/{id} returns it


class RelaySession(Protocol):
    """The relay's own database connection: leadership, wake-ups, the unpublished rows."""

    async def try_lead(self) -> bool:
        """Take leadership if nobody holds it; kept until this session closes."""
        ...

    async def wait_for_events(self, seconds: float) -> None:
        """Return when events were inserted, or after `seconds`."""
        ...

    async def unpublished(self, limit: int) -> list[OutboxEvent]:
        """The oldest unpublished events, in seq order."""
        ...

    async def mark_published(self, event_ids: Sequence[str]) -> None: ...

    async def close(self) -> None: ...


class Publisher(Protocol):
    async def publish(self, events: Sequence[OutboxEvent]) -> int:
        """Publish in order; how many leading events were acknowledged (all of them, or a prefix
        when the broker failed; 0 when it cannot be reached)."""
        ...

    async def close(self) -> None: ...


class OutboxRelay:
    def __init__(
        self,
        open_session: Callable[[], Awaitable[RelaySession]],
        publisher: Publisher,
        *,
        batch_size: int,
        poll_seconds: float,
        retry_seconds: float = 1.0,
    ) -> None:
        self._open_session = open_session
        self._publisher = publisher
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._retry_seconds = retry_seconds
        self.is_leader = False

    async def run(self) -> None:
        """Relay until cancelled; a lost database connection means new session, new election."""
        try:
            while True:
                try:
                    session = await self._open_session()
                    try:
                        await self._lead(session)
                    finally:
                        self.is_leader = False
                        await session.close()
                except Exception:
                    log.exception("outbox relay session failed")
                await asyncio.sleep(self._retry_seconds)
        finally:
            await self._publisher.close()

    async def _relay_batch(self, session: RelaySession) -> tuple[int, int]:
        """One batch: (events fetched, events published and marked)."""
        events = await session.unpublished(self._batch_size)
        if not events:
            return 0, 0
        acked = await self._publisher.publish(events)
        if acked:
            await session.mark_published([event.id for event in events[:acked]])
        return len(events), acked

    async def _lead(self, session: RelaySession) -> None:
        while True:
            if await session.try_lead():
                break
            await asyncio.sleep(self._retry_seconds)
        self.is_leader = True
        log.info("outbox relay leads")
        while True:
            fetched, acked = await self._relay_batch(session)
            if acked < fetched:
                # The broker failed; the rest of the batch is retried, from its first unacked row.
                await asyncio.sleep(self._retry_seconds)
            elif fetched < self._batch_size:
                await session.wait_for_events(self._poll_seconds)
