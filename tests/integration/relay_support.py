"""Helpers of the relay tests: outbox rows written like the services write them, and the
stream read back per merchant."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import psycopg
from nats.errors import TimeoutError as FetchTimeout
from nats.js.api import AckPolicy, ConsumerConfig
from pg_support import app_connect
from psycopg.types.json import Jsonb

from payplane.adapters.broker.nats import STREAM, connect, subject_for
from payplane.domain.ids import new_id

Messages = list[tuple[str, dict[str, Any]]]


async def insert_events(conn: psycopg.AsyncConnection[Any], intent: str, count: int) -> None:
    """One transaction writing `count` events of a payment, holding its row lock like the
    services do (the order invariant the relay relies on)."""
    cur = await conn.execute(
        "SELECT merchant_id FROM payment_intents WHERE id = %s FOR UPDATE", (intent,)
    )
    row = await cur.fetchone()
    assert row is not None
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO events (id, merchant_id, type, object_id, payment_intent_id, data, "
            "created) VALUES (%s, %s, 'payment_intent.processing', %s, %s, %s, %s)",
            [
                (new_id("evt"), row[0], intent, intent, Jsonb({"id": intent}), 1)
                for _ in range(count)
            ],
        )
    await conn.commit()


async def write(database_url: str, intents: Sequence[str], per_intent: int) -> None:
    """Events for the intents in round robin, one transaction each."""
    conn = await app_connect(database_url)
    try:
        for _ in range(per_intent):
            for intent in intents:
                await insert_events(conn, intent, 1)
    finally:
        await conn.close()


def db_order(owner: psycopg.Connection, merchant: str) -> dict[str, list[str]]:
    """Each payment's event ids in seq order, i.e. in commit order."""
    order: dict[str, list[str]] = defaultdict(list)
    for event_id, intent in owner.execute(
        "SELECT id, payment_intent_id FROM events WHERE merchant_id = %s ORDER BY seq", (merchant,)
    ):
        order[intent].append(event_id)
    return dict(order)


def unpublished(owner: psycopg.Connection, merchant: str) -> int:
    row = owner.execute(
        "SELECT count(*) FROM events WHERE merchant_id = %s AND published_at IS NULL", (merchant,)
    ).fetchone()
    assert row is not None
    count: int = row[0]
    return count


async def stream(nats_url: str, merchant: str, expected: int) -> Messages:
    """(Nats-Msg-Id, body) of the merchant's messages in stream order; waits for `expected`."""
    nc, js = await connect(nats_url)
    try:
        # No acks: an explicit-ack consumer stops after max_ack_pending unacked messages.
        config = ConsumerConfig(ack_policy=AckPolicy.NONE)
        sub = await js.pull_subscribe(subject_for(merchant, ">"), stream=STREAM, config=config)
        found: Messages = []
        deadline = time.monotonic() + 30
        while len(found) < expected and time.monotonic() < deadline:
            try:
                batch = await sub.fetch(1000, timeout=1)
            except FetchTimeout:
                continue
            for msg in batch:
                assert msg.headers is not None
                found.append((msg.headers["Nats-Msg-Id"], orjson.loads(msg.data)))
        try:  # nothing beyond what was expected, a duplicate least of all
            extra = await sub.fetch(1, timeout=0.5)
        except FetchTimeout:
            extra = []
        assert extra == []
        return found
    finally:
        await nc.close()


def per_payment(messages: Messages) -> dict[str, list[str]]:
    order: dict[str, list[str]] = defaultdict(list)
    for event_id, body in messages:
        order[body["data"]["object"]["id"]].append(event_id)
    return dict(order)


async def until(condition: Callable[[], bool], within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
