"""PgDisputes and PgCursors on a real PostgreSQL: round trips, tenant isolation, the unique PSP
id, row locks, list pagination and filters, and cursors that only move forwards."""

from __future__ import annotations

import dataclasses
from typing import Any

import psycopg
import pytest
from pg_support import app_connect, app_session, insert_intent, run

from payplane.adapters.db.disputes import PgCursors, PgDisputes
from payplane.domain.dispute import Dispute, DisputeStatus
from payplane.domain.errors import ResourceMissing
from payplane.domain.ids import new_id
from payplane.services.ports import ListQuery, Page


def make_dispute(merchant_id: str, intent_id: str, **fields: Any) -> Dispute:
    values: dict[str, Any] = {
        "id": new_id("dp"),
        "merchant_id": merchant_id,
        "payment_intent_id": intent_id,
        "amount": 1000,
        "currency": "usd",
        "reason": "fraudulent",
        "status": DisputeStatus.NEEDS_RESPONSE,
        # Never "simulator": the e2e platform in the same session reads that connector's feed.
        "connector": "itest",
        "psp_dispute_id": new_id("psd"),
        "psp_change_seq": 1,
        "created": 1_750_000_000,
    }
    values.update(fields)
    return Dispute(**values)


async def add_all(database_url: str, disputes: list[Dispute]) -> None:
    async with app_session(database_url) as conn:
        repo = PgDisputes(conn)
        for dispute in disputes:
            await repo.add(dispute)
        await conn.commit()


async def get(database_url: str, merchant_id: str, dispute_id: str) -> Dispute:
    async with app_session(database_url) as conn:
        return await PgDisputes(conn).get(merchant_id, dispute_id)


async def list_page(database_url: str, merchant_id: str, query: ListQuery) -> Page:
    async with app_session(database_url) as conn:
        return await PgDisputes(conn).list(merchant_id, query)


def test_dispute_round_trips_every_field(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    intent = insert_intent(owner, merchant, status="succeeded")
    dispute = make_dispute(
        merchant,
        intent,
        amount=4242,
        currency="eur",
        reason="product_not_received",
        status=DisputeStatus.WARNING_UNDER_REVIEW,
        psp_change_seq=17,
        charge="ch_123",
        fee=1500,
        evidence={"customer_name": "Zoë 'quoted' \"name\"", "uncategorized_text": "x" * 20_000},
        submission_count=2,
        evidence_due_by=1_750_604_800,
        metadata={"case": "42", "note": "ü ✓"},
        funds_withdrawn=True,
    )
    run(add_all(database_url, [dispute]))
    assert run(get(database_url, merchant, dispute.id)) == dispute

    async def by_psp_id() -> tuple[Dispute | None, Dispute | None, Dispute | None]:
        async with app_session(database_url) as conn:
            repo = PgDisputes(conn)
            return (
                await repo.find_by_psp_id("itest", dispute.psp_dispute_id),
                await repo.find_by_psp_id("other", dispute.psp_dispute_id),
                await repo.find_by_psp_id("itest", "psd_unknown"),
            )

    assert run(by_psp_id()) == (dispute, None, None)


def test_save_writes_what_can_change_and_nothing_else(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    intent = insert_intent(owner, merchant, status="succeeded")
    dispute = make_dispute(merchant, intent)
    run(add_all(database_url, [dispute]))
    changed = dataclasses.replace(
        dispute,
        status=DisputeStatus.WON,
        fee=2000,
        evidence={"product_description": "A lamp"},
        submission_count=1,
        evidence_due_by=1_760_000_000,
        metadata={"k": "v"},
        psp_change_seq=9,
        funds_withdrawn=True,
        # Fixed at creation: save must not touch these.
        amount=1,
        reason="duplicate",
        charge="ch_other",
    )

    async def save() -> None:
        async with app_session(database_url) as conn:
            await PgDisputes(conn).save(changed)
            await conn.commit()

    run(save())
    stored = run(get(database_url, merchant, dispute.id))
    assert stored == dataclasses.replace(changed, amount=1000, reason="fraudulent", charge=None)


def test_another_merchants_dispute_is_missing(
    database_url: str, owner: psycopg.Connection, merchant: str, other_merchant: str
) -> None:
    intent = insert_intent(owner, merchant, status="succeeded")
    dispute = make_dispute(merchant, intent)
    run(add_all(database_url, [dispute]))
    for merchant_id, dispute_id in ((other_merchant, dispute.id), (merchant, "dp_unknown")):
        with pytest.raises(ResourceMissing) as raised:
            run(get(database_url, merchant_id, dispute_id))
        assert (raised.value.code, raised.value.param) == ("resource_missing", "dispute")
        assert dispute_id in raised.value.message


def test_one_dispute_per_psp_dispute(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    intent = insert_intent(owner, merchant, status="succeeded")
    first = make_dispute(merchant, intent)
    run(add_all(database_url, [first]))
    twin = make_dispute(merchant, intent, psp_dispute_id=first.psp_dispute_id)
    with pytest.raises(psycopg.errors.UniqueViolation):
        run(add_all(database_url, [twin]))
    # The same PSP id from another connector is another dispute.
    run(add_all(database_url, [dataclasses.replace(twin, connector="itest_other")]))
    count = owner.execute(
        "SELECT count(*) FROM disputes WHERE psp_dispute_id = %s", (first.psp_dispute_id,)
    ).fetchone()
    assert count == (2,)


def test_find_by_psp_id_with_lock_holds_the_row(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    intent = insert_intent(owner, merchant, status="succeeded")
    dispute = make_dispute(merchant, intent)
    run(add_all(database_url, [dispute]))

    async def two_syncs() -> None:
        first, second = await app_connect(database_url), await app_connect(database_url)
        async with first, second:
            assert await PgDisputes(first).find_by_psp_id(
                "itest", dispute.psp_dispute_id, lock=True
            )
            await second.execute("SET lock_timeout = '200ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                await PgDisputes(second).find_by_psp_id("itest", dispute.psp_dispute_id, lock=True)
            await second.rollback()
            # Reading without the lock is never blocked.
            assert await PgDisputes(second).find_by_psp_id("itest", dispute.psp_dispute_id)
            await first.rollback()

    run(two_syncs())


def test_list_pages_newest_first_and_filters(
    database_url: str, owner: psycopg.Connection, merchant: str, other_merchant: str
) -> None:
    intent_a = insert_intent(owner, merchant, status="succeeded")
    intent_b = insert_intent(owner, merchant, status="succeeded")
    disputes = [
        make_dispute(merchant, intent_a if i % 2 else intent_b, created=1_750_000_000 + i)
        for i in range(5)
    ]
    theirs = make_dispute(other_merchant, insert_intent(owner, other_merchant))
    run(add_all(database_url, [*disputes, theirs]))
    newest_first = [d.id for d in reversed(disputes)]

    first = run(list_page(database_url, merchant, ListQuery(limit=2)))
    assert [d["id"] for d in first.data] == newest_first[:2]
    assert first.has_more
    rest = run(
        list_page(database_url, merchant, ListQuery(limit=10, starting_after=newest_first[1]))
    )
    assert [d["id"] for d in rest.data] == newest_first[2:]
    assert not rest.has_more
    back = run(list_page(database_url, merchant, ListQuery(limit=2, ending_before=newest_first[3])))
    assert [d["id"] for d in back.data] == newest_first[1:3]
    assert all(d["object"] == "dispute" for d in first.data + rest.data)

    only_a = run(
        list_page(database_url, merchant, ListQuery(filters={"payment_intent_id": intent_a}))
    )
    assert [d["id"] for d in only_a.data] == [
        d.id for d in reversed(disputes) if d.payment_intent_id == intent_a
    ]
    recent = run(list_page(database_url, merchant, ListQuery(created={"gte": 1_750_000_003})))
    assert [d["id"] for d in recent.data] == newest_first[:2]
    with pytest.raises(ResourceMissing):
        run(list_page(database_url, merchant, ListQuery(starting_after=theirs.id)))


def test_cursors_start_at_zero_and_only_move_forwards(database_url: str) -> None:
    connector = new_id("itest")

    async def scenario() -> list[int]:
        seen = []
        async with app_session(database_url) as conn:
            cursors = PgCursors(conn)
            seen.append(await cursors.get(connector, "disputes"))
            await cursors.advance(connector, "disputes", 7)
            await conn.commit()
            seen.append(await cursors.get(connector, "disputes"))
            await cursors.advance(connector, "disputes", 3)  # a slower worker: ignored
            await conn.commit()
            seen.append(await cursors.get(connector, "disputes"))
            await cursors.advance(connector, "disputes", 12)
            await conn.rollback()  # never committed: not moved
            seen.append(await cursors.get(connector, "disputes"))
            seen.append(await cursors.get(connector, "refunds"))
            seen.append(await cursors.get(new_id("itest"), "disputes"))
        return seen

    assert run(scenario()) == [0, 7, 7, 7, 0, 0]
