"""DisputeService.sync on a real PostgreSQL with a scripted PSP feed: two workers reading the same
changes, and the same changes read again, move money and write events exactly once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

import psycopg
from pg_support import app_pool, insert_intent, run

from payplane.adapters.clock import SystemClock
from payplane.adapters.db.uow import PgUnitOfWorkFactory
from payplane.domain.ids import new_id
from payplane.services.disputes import DisputeService
from payplane.services.ports import DisputeFeed, PspDispute


@dataclass
class ScriptedFeed:
    """A PSP whose dispute feed ignores `after`, so every sync rereads every change."""

    name: str
    changes: list[PspDispute] = field(default_factory=list)

    async def disputes_changed(self, *, after: int, limit: int) -> DisputeFeed:  # noqa: ARG002
        await asyncio.sleep(0)  # let the other worker interleave
        return DisputeFeed(self.changes[:limit], has_more=False)


def _change(intent_id: str, psp_id: str, status: str, seq: int, fee: int = 1500) -> PspDispute:
    return PspDispute(
        psp_id=psp_id,
        merchant_reference=intent_id,
        amount=800,
        currency="usd",
        fee=fee,
        reason="fraudulent",
        status=status,
        evidence={},
        evidence_submitted=False,
        evidence_due_by=1_750_604_800,
        created=1_750_000_000,
        change_seq=seq,
    )


async def _two_workers(database_url: str, feed: ScriptedFeed) -> None:
    async with app_pool(database_url, size=4) as pool:
        service = DisputeService(PgUnitOfWorkFactory(pool), feed, SystemClock(), lock_seconds=5)
        await asyncio.gather(service.sync(feed), service.sync(feed))


def _state(owner: psycopg.Connection, intent_id: str) -> tuple[list[tuple[str, ...]], ...]:
    disputes = owner.execute(
        "SELECT status, psp_change_seq::text, funds_withdrawn::text, fee::text FROM disputes "
        "WHERE payment_intent_id = %s",
        (intent_id,),
    ).fetchall()
    journals = owner.execute(
        "SELECT kind FROM ledger_journals WHERE payment_intent_id = %s ORDER BY created_at, id",
        (intent_id,),
    ).fetchall()
    events = owner.execute(
        "SELECT type FROM events WHERE payment_intent_id = %s ORDER BY seq", (intent_id,)
    ).fetchall()
    return disputes, journals, events


def test_two_workers_reading_the_same_changes_apply_them_once(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    intent = insert_intent(owner, merchant, amount=800, status="succeeded")
    psp_id = new_id("psd")
    feed = ScriptedFeed(new_id("itest"), [_change(intent, psp_id, "warning_needs_response", 1, 0)])

    run(_two_workers(database_url, feed))
    assert _state(owner, intent) == (
        [("warning_needs_response", "1", "false", "0")],
        [],
        [("charge.dispute.created",)],
    )

    # The inquiry escalates; the feed still carries the old change too (reread, and stale).
    feed.changes.append(_change(intent, psp_id, "needs_response", 4))
    run(_two_workers(database_url, feed))
    run(_two_workers(database_url, feed))
    assert _state(owner, intent) == (
        [("needs_response", "4", "true", "1500")],
        [("chargeback",)],
        [
            ("charge.dispute.created",),
            ("charge.dispute.funds_withdrawn",),
            ("charge.dispute.updated",),
        ],
    )

    # Won, then a late change from before it: reinstated once, and never moved back.
    feed.changes = [_change(intent, psp_id, "won", 9), _change(intent, psp_id, "under_review", 6)]
    run(_two_workers(database_url, feed))
    disputes, journals, events = _state(owner, intent)
    assert disputes == [("won", "9", "false", "1500")]
    assert journals == [("chargeback",), ("chargeback_reversal",)]
    assert events[-2:] == [("charge.dispute.funds_reinstated",), ("charge.dispute.closed",)]
    cursor = owner.execute(
        "SELECT position FROM psp_cursors WHERE connector = %s AND feed = 'disputes'",
        (feed.name,),
    ).fetchone()
    assert cursor == (9,), "the cursor never moves back for a late change"


def test_one_dispute_per_psp_dispute_even_when_both_workers_see_it_new(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    intents = [insert_intent(owner, merchant, amount=800, status="succeeded") for _ in range(3)]
    feed = ScriptedFeed(new_id("itest"))
    feed.changes = [
        replace(_change(intent, new_id("psd"), "needs_response", seq), amount=500)
        for seq, intent in enumerate(intents, start=1)
    ]
    run(_two_workers(database_url, feed))
    rows = owner.execute(
        "SELECT payment_intent_id, count(*) FROM disputes WHERE connector = %s "
        "GROUP BY payment_intent_id",
        (feed.name,),
    ).fetchall()
    assert sorted(rows) == sorted((intent, 1) for intent in intents)
    chargebacks = owner.execute(
        "SELECT count(*) FROM ledger_journals WHERE kind = 'chargeback' "
        "AND payment_intent_id = ANY(%s)",
        (intents,),
    ).fetchone()
    assert chargebacks == (3,)


@dataclass
class _At:
    now_seconds: int

    def now(self) -> int:
        return self.now_seconds


def test_a_dispute_about_an_unknown_payment_holds_the_feed_briefly_then_is_passed(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    known = insert_intent(owner, merchant, status="succeeded")
    connector = new_id("feed")
    unknown_change = _change("pi_nobody_knows", new_id("psd"), "needs_response", seq=1)
    feed = ScriptedFeed(connector, [unknown_change, _change(known, new_id("psd"), "lost", seq=2)])

    async def sync_at(now: int) -> int:
        async with app_pool(database_url, size=2) as pool:
            service = DisputeService(PgUnitOfWorkFactory(pool), feed, _At(now), lock_seconds=5)
            return await service.sync(feed)

    young = unknown_change.created + 10
    assert run(sync_at(young)) == 0  # it may be a payment whose commit is on its way: wait
    assert _state(owner, known)[0] == []
    old = unknown_change.created + 3600
    run(sync_at(old))
    assert [row[0] for row in _state(owner, known)[0]] == ["lost"]
    position = owner.execute(
        "SELECT position FROM psp_cursors WHERE connector = %s AND feed = 'disputes'", (connector,)
    ).fetchone()
    assert position == (2,)
    audited = owner.execute(
        "SELECT count(*) FROM audit_log WHERE action = 'dispute_feed.unknown_payment' "
        "AND object_id = %s",
        (unknown_change.psp_id,),
    ).fetchone()
    assert audited == (1,)
