"""Chaos: 10,000 events flow from the outbox through NATS to a merchant's endpoint while relays and
dispatchers are killed with SIGKILL at random moments and restarted. Every event is published and
delivered at least once; the receiver, deduplicating on the event id, sees each exactly once."""

from __future__ import annotations

import random
import sys
import time
from collections import Counter

import psycopg
from tests.e2e.support import query, stripe_client
from tests.merchant_receiver import running_receiver

from payplane.runtime.processes import ChildProcess, stop_all

EVENTS = 10_000
BATCH = 250
PAYMENTS = 5
DELIVERY_TIMEOUT_SECONDS = 60


def _insert_events(database_url: str, merchant_id: str, run: str, first: int, count: int) -> None:
    """Outbox rows as a payment's transaction would write them, minus the payment: cheap."""
    with psycopg.connect(database_url) as conn:
        conn.execute(
            """
            INSERT INTO events (id, merchant_id, type, object_id, payment_intent_id, data,
                                request_id, created)
            SELECT 'evt_chaos' || %(run)s || '_' || n, %(merchant)s, 'payment_intent.succeeded',
                   'pi_chaos' || %(run)s || '_' || n, NULL,
                   jsonb_build_object('id', 'pi_chaos' || %(run)s || '_' || n,
                                      'object', 'payment_intent', 'amount', n),
                   'req_chaos', extract(epoch FROM now())::bigint
              FROM generate_series(%(first)s::int, %(last)s::int) AS n
            """,
            {"run": run, "merchant": merchant_id, "first": first, "last": first + count - 1},
        )


def test_no_event_is_lost_when_relays_and_dispatchers_are_killed(platform, tmp_path) -> None:
    rng = random.Random()  # noqa: S311 - chaos timing, not secrets
    merchant_id, secret = platform.new_merchant("chaos")
    worker = platform.children["worker"]
    extras = [
        ChildProcess(
            "relay-2",
            [sys.executable, "-m", "payplane.workers.relay"],
            tmp_path / "relay-2.log",
            env=worker.env,
        ),
        *(
            ChildProcess(
                f"dispatcher-{n}",
                [sys.executable, "-m", "payplane.workers.webhooks"],
                tmp_path / f"dispatcher-{n}.log",
                env=worker.env,
            )
            for n in (2, 3)
        ),
    ]
    victims = [worker, *extras]
    kills: Counter[str] = Counter()
    with running_receiver() as receiver:
        stripe_client(platform, secret).v1.webhook_endpoints.create(
            params={"url": receiver.url("/chaos"), "enabled_events": ["*"]}
        )
        for child in extras:
            child.start()
        try:
            run = str(rng.randrange(10**9))
            payments = []
            # The first rounds kill each kind once for sure; then victims are drawn at random.
            order = [worker, extras[0], extras[1], extras[2]]
            next_kill = time.monotonic() + rng.uniform(0.2, 0.8)
            inserted = 0
            chaos_until = None
            while chaos_until is None or time.monotonic() < chaos_until:
                if inserted < EVENTS:
                    _insert_events(platform.database_url, merchant_id, run, inserted, BATCH)
                    inserted += BATCH
                    if inserted % 2000 == 0 and len(payments) < PAYMENTS:
                        payments.append(_pay(platform, secret))
                    if inserted >= EVENTS:
                        chaos_until = time.monotonic() + 4  # keep killing while they drain
                now = time.monotonic()
                if now >= next_kill:
                    victim = order.pop(0) if order else rng.choice(victims)
                    victim.kill()  # SIGKILL to its process group
                    kills[victim.name] += 1
                    time.sleep(rng.uniform(0.05, 0.6))
                    victim.start()
                    next_kill = time.monotonic() + rng.uniform(0.3, 1.2)
                time.sleep(0.1)
            while len(payments) < PAYMENTS:
                payments.append(_pay(platform, secret))
            started = time.monotonic()
            try:
                # Twice: events may still be written (PSP webhooks about the payments).
                for _ in range(2):
                    expected = _event_ids(platform, merchant_id)
                    receiver.wait_for(
                        lambda r, e=expected: e <= {x.event["id"] for x in r},
                        DELIVERY_TIMEOUT_SECONDS,
                    )
            finally:
                expected = _event_ids(platform, merchant_id)
                received = Counter(r.event["id"] for r in receiver.requests("/chaos"))
                print(
                    f"\nkills {dict(kills)}; {len(expected)} events, {sum(received.values())} "
                    f"requests, {sum(n - 1 for n in received.values())} duplicates, "
                    f"{len(expected - set(received))} missing; drained "
                    f"{time.monotonic() - started:.1f} s after the last insert"
                )
        finally:
            stop_all(extras)
            if not worker.is_running:
                worker.start()
    assert len(expected) >= EVENTS + PAYMENTS * 3
    assert set(received) == expected  # at least once each, and nothing else
    unpublished = query(
        platform,
        "SELECT count(*) AS n FROM events WHERE merchant_id = %s AND published_at IS NULL",
        merchant_id,
    )
    assert unpublished[0]["n"] == 0
    assert all(kills[child.name] >= 1 for child in victims)


def _pay(platform, secret: str) -> str:
    intent = stripe_client(platform, secret).v1.payment_intents.create(
        params={
            "amount": 1500,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    return str(intent.id)


def _event_ids(platform, merchant_id: str) -> set[str]:
    rows = query(platform, "SELECT id FROM events WHERE merchant_id = %s", merchant_id)
    return {row["id"] for row in rows}
