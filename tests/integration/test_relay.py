"""The outbox relay against real PostgreSQL and NATS: every event once, in order per payment,
only marked after its PubAck, one leader among many, and nothing lost to kill -9."""

from __future__ import annotations

import asyncio
import random
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from pg_support import app_connect, insert_intent, run
from relay_support import (
    db_order,
    insert_events,
    per_payment,
    stop,
    stream,
    unpublished,
    until,
    write,
)

from payplane.adapters.broker.nats import JetStreamPublisher
from payplane.adapters.db.events import PgOutbox
from payplane.adapters.db.outbox_relay import PgRelaySession
from payplane.config import Settings
from payplane.runtime.nats import EmbeddedNats
from payplane.runtime.processes import ChildProcess, free_port
from payplane.services.relay import OutboxEvent, OutboxRelay
from payplane.wiring import outbox_relay

# Seeded: the event mix repeats from run to run; the kill moments depend on timing anyway.
_rng = random.Random(1009)  # noqa: S311 - test data and timing, no secrets


def _relay(database_url: str, nats_url: str, **settings: Any) -> OutboxRelay:
    return outbox_relay(
        Settings(database_url=database_url, nats_url=nats_url, relay_poll_seconds=0.2, **settings)
    )


def test_publishes_every_event_once_in_seq_order_as_the_api_shows_it(
    database_url: str, nats_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    intents = [insert_intent(owner, merchant) for _ in range(3)]
    run(write(database_url, intents, per_intent=10))

    async def main() -> None:
        task = asyncio.create_task(_relay(database_url, nats_url, relay_batch_size=7).run())
        await until(lambda: unpublished(owner, merchant) == 0)
        await stop(task)

    run(main())
    messages = run(stream(nats_url, merchant, 30))
    seq_order = [id_ for (id_,) in owner.execute(
        "SELECT id FROM events WHERE merchant_id = %s ORDER BY seq", (merchant,)
    )]  # fmt: skip
    assert [event_id for event_id, _ in messages] == seq_order

    async def api_view(event_id: str) -> dict[str, Any]:
        conn = await app_connect(database_url)
        try:
            return await PgOutbox(conn).get(merchant, event_id)
        finally:
            await conn.close()

    assert messages[0][1] == run(api_view(messages[0][0]))


def test_rows_stay_unpublished_until_nats_acks_them(
    database_url: str, owner: psycopg.Connection, merchant: str, tmp_path: Path
) -> None:
    server = EmbeddedNats(tmp_path / "nats", free_port())
    intents = [insert_intent(owner, merchant) for _ in range(2)]

    async def main() -> None:
        relay = _relay(database_url, server.url, relay_ack_timeout_seconds=1)
        task = asyncio.create_task(relay.run())
        try:
            await write(database_url, intents, per_intent=5)
            await until(lambda: unpublished(owner, merchant) == 0)

            await asyncio.to_thread(server.stop)
            await write(database_url, intents, per_intent=5)
            await asyncio.sleep(3)  # several relay rounds against a dead server
            assert unpublished(owner, merchant) == 10

            await asyncio.to_thread(server.start)
            await until(lambda: unpublished(owner, merchant) == 0)
        finally:
            await stop(task)

    server.start()
    try:
        run(main())
        messages = run(stream(server.url, merchant, 20))
    finally:
        server.stop()
    assert per_payment(messages) == db_order(owner, merchant)


class _Counting:
    """A publisher that counts what passes through it."""

    def __init__(self, inner: JetStreamPublisher) -> None:
        self.inner = inner
        self.published = 0

    async def publish(self, events: Sequence[OutboxEvent]) -> int:
        acked = await self.inner.publish(events)
        self.published += acked
        return acked

    async def close(self) -> None:
        await self.inner.close()


def test_two_relays_elect_one_leader_and_the_other_takes_over(
    database_url: str, nats_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    intents = [insert_intent(owner, merchant) for _ in range(10)]
    publishers = [_Counting(JetStreamPublisher(nats_url, ack_timeout=5)) for _ in range(2)]
    relays = [
        OutboxRelay(
            lambda: PgRelaySession.connect(database_url),
            publisher,
            batch_size=50,
            poll_seconds=0.2,
            retry_seconds=0.2,
        )
        for publisher in publishers
    ]

    async def main() -> None:
        tasks = [asyncio.create_task(relay.run()) for relay in relays]
        try:
            await until(lambda: any(relay.is_leader for relay in relays))
            await write(database_url, intents, per_intent=10)
            await until(lambda: unpublished(owner, merchant) == 0)
            leader = next(i for i, relay in enumerate(relays) if relay.is_leader)
            assert not relays[1 - leader].is_leader
            assert publishers[1 - leader].published == 0

            await stop(tasks[leader])
            await until(lambda: relays[1 - leader].is_leader, within=5)
            await write(database_url, intents, per_intent=10)
            await until(lambda: unpublished(owner, merchant) == 0)
            assert publishers[1 - leader].published >= 100
        finally:
            for task in tasks:
                await stop(task)

    run(main())
    messages = run(stream(nats_url, merchant, 200))
    assert len({event_id for event_id, _ in messages}) == 200
    assert per_payment(messages) == db_order(owner, merchant)


def test_a_crash_between_puback_and_marking_republishes_into_the_dedup(
    database_url: str, nats_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    intents = [insert_intent(owner, merchant) for _ in range(2)]
    run(write(database_url, intents, per_intent=3))

    async def crash_after_puback() -> None:
        session = await PgRelaySession.connect(database_url)
        publisher = JetStreamPublisher(nats_url, ack_timeout=5)
        try:
            events = [e for e in await session.unpublished(10_000) if e.merchant_id == merchant]
            assert await publisher.publish(events) == 6
        finally:  # dies here: acked by NATS, not marked in the outbox
            await publisher.close()
            await session.close()

    async def relay_all() -> None:
        task = asyncio.create_task(_relay(database_url, nats_url).run())
        await until(lambda: unpublished(owner, merchant) == 0)
        await stop(task)

    run(crash_after_puback())
    assert unpublished(owner, merchant) == 6
    run(relay_all())
    messages = run(stream(nats_url, merchant, 6))
    assert per_payment(messages) == db_order(owner, merchant)


def test_kill_9_of_relays_loses_nothing_and_keeps_orderper_payment(
    database_url: str, nats_url: str, owner: psycopg.Connection, merchant: str, tmp_path: Path
) -> None:
    total, writers = 10_000, 8
    intents = [insert_intent(owner, merchant) for _ in range(200)]
    sizes: list[int] = []
    while sum(sizes) < total:
        sizes.append(min(_rng.randint(1, 5), total - sum(sizes)))
    env = {
        "PAYPLANE_DATABASE_URL": database_url,
        "PAYPLANE_NATS_URL": nats_url,
        "PAYPLANE_LOG_LEVEL": "INFO",  # the log tells the leaderships
    }
    relays = [
        ChildProcess(
            f"relay-{i}",
            [sys.executable, "-m", "payplane.workers.relay"],
            tmp_path / f"relay-{i}.log",
            env,
        )
        for i in range(2)
    ]

    async def writer(queue: asyncio.Queue[int]) -> None:
        conn = await app_connect(database_url)
        try:
            while not queue.empty():
                await insert_events(conn, _rng.choice(intents), queue.get_nowait())
                # Paced (~1,000 events/s in all) so that the kills fall all over the run.
                await asyncio.sleep(_rng.uniform(0, 0.05))
        finally:
            await conn.close()

    async def main() -> tuple[int, float]:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for size in sizes:
            queue.put_nowait(size)
        started = time.monotonic()
        writing = asyncio.gather(*(writer(queue) for _ in range(writers)))
        kills = 0
        while unpublished(owner, merchant) or not writing.done():
            await asyncio.sleep(_rng.uniform(0.3, 1.0))
            victim = _rng.choice(relays)
            victim.kill()
            victim.start()
            kills += 1
            assert time.monotonic() - started < 60, "the relays fell behind"
        await writing
        return kills, time.monotonic() - started

    for relay in relays:
        relay.start()
    try:
        kills, seconds = run(main())
    finally:
        for relay in relays:
            relay.kill()
    messages = run(stream(nats_url, merchant, total))
    logs = "".join(relay.log_path.read_text() for relay in relays)
    dropped = re.findall(r'"count": (\d+), "event": "JetStream dropped', logs)
    print(f"\n{total} events published in {seconds:.1f} s ({total / seconds:.0f} events/s) "
          f"through {kills} kill -9s, {logs.count('outbox relay leads')} leaderships, "
          f"{sum(map(int, dropped))} re-publishes dropped by JetStream")  # fmt: skip
    assert len({event_id for event_id, _ in messages}) == total == len(messages)
    assert per_payment(messages) == db_order(owner, merchant)


def test_relay_throughput(
    database_url: str, nats_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    """Drain a backlog with one relay; prints events/s (the benchmark's figure)."""
    total = 10_000
    intents = [insert_intent(owner, merchant) for _ in range(100)]
    owner.execute(
        "INSERT INTO events (id, merchant_id, type, object_id, payment_intent_id, data, created) "
        "SELECT 'evt_bench_' || %s || '_' || n, %s, 'payment_intent.succeeded', i, i, "
        "jsonb_build_object('id', i, 'object', 'payment_intent', 'amount', 2000), 1 "
        "FROM generate_series(1, %s) AS n, LATERAL (SELECT (%s::text[])[1 + n %% %s] AS i) AS x",
        (merchant, merchant, total, intents, len(intents)),
    )

    async def main() -> float:
        started = time.monotonic()
        task = asyncio.create_task(_relay(database_url, nats_url).run())
        await until(lambda: unpublished(owner, merchant) == 0, within=60)
        await stop(task)
        return time.monotonic() - started

    seconds = run(main())
    print(f"\nrelay drained {total} events in {seconds:.2f} s: {total / seconds:.0f} events/s")
    assert len(run(stream(nats_url, merchant, total))) == total
