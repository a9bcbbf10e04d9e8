"""The outbox (Stripe events) and the audit trail on a real PostgreSQL, and their atomicity
with the state change they describe."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
from pg_support import app_pool, app_session, in_uow, insert_attempt, insert_intent, run

from payplane.adapters.db.audit import PgAuditTrail
from payplane.adapters.db.events import API_VERSION, PgOutbox
from payplane.adapters.db.uow import PgUnitOfWork
from payplane.domain import ledger
from payplane.domain.errors import ResourceMissing
from payplane.domain.ids import new_id
from payplane.domain.ledger import Hold
from payplane.domain.money import Money
from payplane.domain.payment_intent import CaptureMethod, PaymentIntent, Status
from payplane.services.ports import ListQuery, Page, RequestContext


def context(merchant_id: str, key: str | None = None) -> RequestContext:
    return RequestContext(merchant_id, "api_key:key_test", new_id("req"), key)


def intent_object(intent_id: str, status: str = "processing") -> dict[str, Any]:
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": 1000,
        "currency": "usd",
        "status": status,
        "metadata": {"order": "42", "ünï": "cödé"},
        "last_payment_error": None,
    }


async def append(
    database_url: str,
    ctx: RequestContext,
    events: list[tuple[str, dict[str, Any]]],
    *,
    payment_intent_id: str,
) -> None:
    async with app_session(database_url) as conn:
        outbox = PgOutbox(conn)
        for event_type, data in events:
            await outbox.append(ctx, event_type, data, payment_intent_id=payment_intent_id)
        await conn.commit()


async def for_payment(database_url: str, intent_id: str) -> list[dict[str, Any]]:
    async with app_session(database_url) as conn:
        return await PgOutbox(conn).for_payment(intent_id)


async def get_event(database_url: str, merchant_id: str, event_id: str) -> dict[str, Any]:
    async with app_session(database_url) as conn:
        return await PgOutbox(conn).get(merchant_id, event_id)


async def list_events(database_url: str, merchant_id: str, query: ListQuery) -> Page:
    async with app_session(database_url) as conn:
        return await PgOutbox(conn).list(merchant_id, query)


def test_appended_event_has_stripes_shape(database_url: str, merchant: str) -> None:
    intent_id = new_id("pi")
    ctx = context(merchant, key="idem-create-1")
    data = intent_object(intent_id)
    before = int(time.time())
    run(append(database_url, ctx, [("payment_intent.created", data)], payment_intent_id=intent_id))
    [event] = run(for_payment(database_url, intent_id))
    assert event["id"].startswith("evt_")
    assert before <= event["created"] <= int(time.time()) + 1
    assert event == {
        "id": event["id"],
        "object": "event",
        "api_version": API_VERSION,
        "created": event["created"],
        "data": {"object": data},
        "livemode": False,
        "pending_webhooks": 0,
        "request": {"id": ctx.request_id, "idempotency_key": "idem-create-1"},
        "type": "payment_intent.created",
    }
    assert run(get_event(database_url, merchant, event["id"])) == event


def test_event_without_idempotency_key(database_url: str, merchant: str) -> None:
    intent_id = new_id("pi")
    ctx = context(merchant)
    run(
        append(
            database_url,
            ctx,
            [("payment_intent.canceled", intent_object(intent_id))],
            payment_intent_id=intent_id,
        )
    )
    [event] = run(for_payment(database_url, intent_id))
    assert event["request"] == {"id": ctx.request_id, "idempotency_key": None}


def test_event_of_another_merchant_is_missing(
    database_url: str, merchant: str, other_merchant: str
) -> None:
    intent_id = new_id("pi")
    run(
        append(
            database_url,
            context(merchant),
            [("payment_intent.created", intent_object(intent_id))],
            payment_intent_id=intent_id,
        )
    )
    [event] = run(for_payment(database_url, intent_id))
    with pytest.raises(ResourceMissing) as caught:
        run(get_event(database_url, other_merchant, event["id"]))
    assert caught.value.code == "resource_missing"
    assert caught.value.message == f"No such event: '{event['id']}'"
    with pytest.raises(ResourceMissing):
        run(get_event(database_url, merchant, new_id("evt")))


def test_for_payment_keeps_append_order_across_transactions(
    database_url: str, merchant: str
) -> None:
    intent_id, other_intent = new_id("pi"), new_id("pi")
    ctx = context(merchant)
    charge = {"id": new_id("ch"), "object": "charge", "payment_intent": intent_id}
    run(
        append(
            database_url,
            ctx,
            [
                ("payment_intent.created", intent_object(intent_id, "requires_payment_method")),
                ("payment_intent.processing", intent_object(intent_id, "processing")),
            ],
            payment_intent_id=intent_id,
        )
    )
    run(
        append(
            database_url,
            ctx,
            [("payment_intent.created", intent_object(other_intent))],
            payment_intent_id=other_intent,
        )
    )
    run(
        append(
            database_url,
            ctx,
            [
                ("charge.succeeded", charge),
                ("payment_intent.succeeded", intent_object(intent_id, "succeeded")),
            ],
            payment_intent_id=intent_id,
        )
    )
    events = run(for_payment(database_url, intent_id))
    assert [e["type"] for e in events] == [
        "payment_intent.created",
        "payment_intent.processing",
        "charge.succeeded",
        "payment_intent.succeeded",
    ]
    # A charge's event is filed under its payment; data.object is the charge itself.
    assert events[2]["data"]["object"] == charge
    assert len({e["id"] for e in events}) == 4
    assert [e["type"] for e in run(for_payment(database_url, other_intent))] == [
        "payment_intent.created"
    ]


def test_list_events_pages_newest_first_per_merchant(
    database_url: str, merchant: str, other_merchant: str
) -> None:
    intent_id = new_id("pi")
    types = [f"payment_intent.step_{i}" for i in range(5)]
    for event_type in types:
        run(
            append(
                database_url,
                context(merchant),
                [(event_type, intent_object(intent_id))],
                payment_intent_id=intent_id,
            )
        )
        run(
            append(
                database_url,
                context(other_merchant),
                [(event_type, intent_object(new_id("pi")))],
                payment_intent_id=new_id("pi"),
            )
        )
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = run(list_events(database_url, merchant, ListQuery(limit=2, starting_after=cursor)))
        assert all(e["object"] == "event" for e in page.data)
        seen += [e["type"] for e in page.data]
        if not page.has_more:
            break
        cursor = page.data[-1]["id"]
    assert seen == list(reversed(types))
    only = run(
        list_events(database_url, merchant, ListQuery(filters={"type": "payment_intent.step_3"}))
    )
    assert [e["type"] for e in only.data] == ["payment_intent.step_3"]
    assert only.data[0]["data"]["object"]["id"] == intent_id
    theirs = run(list_events(database_url, other_merchant, ListQuery(limit=1)))
    with pytest.raises(ResourceMissing) as caught:
        run(list_events(database_url, merchant, ListQuery(starting_after=theirs.data[0]["id"])))
    assert caught.value.param == "starting_after"


def test_audit_trail_records_in_order(database_url: str, merchant: str) -> None:
    object_id = new_id("pi")
    ctx = context(merchant, key="idem-audit")

    async def record() -> list[dict[str, Any]]:
        async with app_session(database_url) as conn:
            audit = PgAuditTrail(conn)
            await audit.record(
                ctx,
                "payment_intent.created",
                object_type="payment_intent",
                object_id=object_id,
                after="requires_payment_method",
            )
            await audit.record(
                ctx,
                "payment_intent.confirmed",
                object_type="payment_intent",
                object_id=object_id,
                before="requires_payment_method",
                after="processing",
                detail={"attempt": "att_1", "n": 1},
            )
            await conn.commit()
            return await audit.for_object(object_id)

    rows = run(record())
    assert [(r["action"], r["before_status"], r["after_status"], r["detail"]) for r in rows] == [
        ("payment_intent.created", None, "requires_payment_method", {}),
        (
            "payment_intent.confirmed",
            "requires_payment_method",
            "processing",
            {"attempt": "att_1", "n": 1},
        ),
    ]
    assert all(r["actor"] == "api_key:key_test" for r in rows)
    assert all(
        (r["request_id"], r["idempotency_key"]) == (ctx.request_id, "idem-audit") for r in rows
    )
    assert rows[0]["at"] <= rows[1]["at"]


def _state_change(
    merchant: str, intent: PaymentIntent, attempt_id: str, ctx: RequestContext
) -> Callable[[PgUnitOfWork], Awaitable[None]]:
    async def work(uow: PgUnitOfWork) -> None:
        await uow.intents.save(intent)
        hold = Hold(attempt_id, merchant, "simulator", Money(intent.amount, intent.currency))
        await uow.ledger.post(ledger.authorization(hold, intent.id))
        await uow.outbox.append(
            ctx,
            "payment_intent.amount_capturable_updated",
            intent.as_stripe_object(),
            payment_intent_id=intent.id,
        )
        await uow.audit.record(
            ctx,
            "payment_intent.authorized",
            object_type="payment_intent",
            object_id=intent.id,
            before="processing",
            after=intent.status.value,
        )

    return work


def _written(owner: psycopg.Connection, intent_id: str) -> dict[str, Any]:
    def one(sql: str) -> Any:
        row = owner.execute(sql, (intent_id,)).fetchone()
        assert row is not None
        return row[0]

    return {
        "status": one("SELECT status FROM payment_intents WHERE id = %s"),
        "entries": one("SELECT count(*) FROM ledger_entries WHERE payment_intent_id = %s"),
        "events": one("SELECT count(*) FROM events WHERE payment_intent_id = %s"),
        "audit": one("SELECT count(*) FROM audit_log WHERE object_id = %s"),
    }


def test_state_change_ledger_event_and_audit_commit_or_vanish_together(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    intent_id = insert_intent(owner, merchant, status="processing")
    attempt_id = insert_attempt(owner, intent_id, merchant, status="succeeded")
    ctx = context(merchant, key="idem-atomic")
    intent = PaymentIntent(
        id=intent_id,
        merchant_id=merchant,
        amount=1000,
        currency="usd",
        status=Status.REQUIRES_CAPTURE,
        capture_method=CaptureMethod.MANUAL,
        created=1_700_000_000,
        amount_capturable=1000,
    )
    work = _state_change(merchant, intent, attempt_id, ctx)

    async def without_commit() -> None:
        async with app_pool(database_url, size=1) as pool, PgUnitOfWork(pool) as uow:
            await work(uow)  # leaving the block without commit() rolls everything back

    run(without_commit())
    assert _written(owner, intent_id) == {
        "status": "processing",
        "entries": 0,
        "events": 0,
        "audit": 0,
    }
    in_uow(database_url, work)
    assert _written(owner, intent_id) == {
        "status": "requires_capture",
        "entries": 2,
        "events": 1,
        "audit": 1,
    }
