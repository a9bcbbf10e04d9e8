"""The PSP inbox on a real PostgreSQL: storing deduplicates on the PSP's event id, claiming leases,
and the processor applies an event once, retries one about an unknown payment with backoff and
then parks it, and parks an unreadable one at once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import psycopg
import pytest
from pg_support import app_pool, insert_intent, run

from payplane.adapters.clock import SystemClock
from payplane.adapters.db.uow import PgUnitOfWorkFactory
from payplane.adapters.psp.simulator_events import SimulatorEvents
from payplane.config import SIMULATOR_WEBHOOK_SECRET
from payplane.domain.ids import new_id
from payplane.services.inbox import InboxProcessor
from payplane.services.inbox_ports import InboxEvent

HEADERS = {"webhook-id": "evt", "webhook-timestamp": "1", "webhook-signature": "v1,x"}


@pytest.fixture
def connector(owner: psycopg.Connection) -> Iterator[str]:
    """A connector name of this test's own, so the inbox rows it claims are only its own."""
    name = new_id("conn")
    yield name
    owner.execute("DELETE FROM psp_inbox WHERE connector LIKE %s", (name + "%",))


def _body(event_type: str, data: dict[str, Any], event_id: str | None = None) -> bytes:
    event_id = event_id or new_id("evt_psp")
    return orjson.dumps({"id": event_id, "type": event_type, "created": 1, "data": data})


async def _add(database_url: str, connector: str, event_id: str, body: bytes) -> bool:
    try:
        event_type = orjson.loads(body).get("type", "x.y")
    except (orjson.JSONDecodeError, AttributeError):
        event_type = "x.y"
    async with app_pool(database_url, size=1) as pool, PgUnitOfWorkFactory(pool)() as uow:
        stored = await uow.inbox.add(connector, event_id, event_type, body, HEADERS)
        await uow.commit()
        return stored


async def _claim(database_url: str) -> list[InboxEvent]:
    async with app_pool(database_url, size=1) as pool, PgUnitOfWorkFactory(pool)() as uow:
        claimed = await uow.inbox.claim_due(limit=100, lease_seconds=30)
        await uow.commit()
        return claimed


async def _process_rounds(
    database_url: str, connector: str, rounds: int, max_attempts: int, *, hurry: bool = True
) -> int:
    """Run the processor `rounds` times, making retried events due at once after each (hurry)."""
    done = 0
    async with app_pool(database_url, size=2) as pool:
        parser = SimulatorEvents([SIMULATOR_WEBHOOK_SECRET], tolerance_seconds=300)
        processor = InboxProcessor(
            PgUnitOfWorkFactory(pool),
            {connector: parser},
            SystemClock(),
            capture_window=3600,
            max_attempts=max_attempts,
        )
        for _ in range(rounds):
            done += await processor.run_due()
            if not hurry:
                continue
            async with pool.connection() as conn:
                await conn.execute(
                    "UPDATE psp_inbox SET next_attempt_at = now() "
                    "WHERE connector = %s AND status = 'pending'",
                    (connector,),
                )
    return done


def _row(owner: psycopg.Connection, connector: str) -> dict[str, Any]:
    cur = owner.cursor(row_factory=psycopg.rows.dict_row)
    (row,) = cur.execute(
        "SELECT status, attempts, last_error, processed_at, next_attempt_at - now() AS wait, "
        "headers FROM psp_inbox WHERE connector = %s",
        (connector,),
    ).fetchall()
    return row


def test_the_same_event_id_is_stored_once(
    database_url: str, owner: psycopg.Connection, connector: str
) -> None:
    assert run(_add(database_url, connector, "evt_psp_1", b'{"a": 1}')) is True
    assert run(_add(database_url, connector, "evt_psp_1", b'{"a": 2}')) is False
    assert run(_add(database_url, connector + "_other", "evt_psp_1", b"{}")) is True
    rows = owner.execute(
        "SELECT raw_body, status FROM psp_inbox WHERE connector = %s", (connector,)
    ).fetchall()
    assert rows == [(b'{"a": 1}', "pending")]
    assert _row(owner, connector)["headers"] == HEADERS


def test_a_claim_leases_events_so_a_second_claim_skips_them(
    database_url: str, owner: psycopg.Connection, connector: str
) -> None:
    run(_add(database_url, connector, "evt_psp_1", b"{}"))
    first = [e for e in run(_claim(database_url)) if e.connector == connector]
    assert [(e.psp_event_id, e.attempts, e.raw_body) for e in first] == [("evt_psp_1", 0, b"{}")]
    assert [e for e in run(_claim(database_url)) if e.connector == connector] == []
    assert _row(owner, connector)["wait"].total_seconds() > 25


def test_an_event_about_an_unknown_call_is_retried_with_backoff_then_parked(
    database_url: str, owner: psycopg.Connection, connector: str
) -> None:
    key = new_id("att")
    body = _body("authorization.succeeded", _authorization(key, "pi_unknown"))
    run(_add(database_url, connector, "evt_psp_u", body))

    run(_process_rounds(database_url, connector, rounds=1, max_attempts=3, hurry=False))
    row = _row(owner, connector)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert 0.2 < row["wait"].total_seconds() <= 0.5  # the first retry waits half a second
    assert key in row["last_error"]
    owner.execute("UPDATE psp_inbox SET next_attempt_at = now() WHERE connector = %s", (connector,))
    run(_process_rounds(database_url, connector, rounds=1, max_attempts=3))
    assert _row(owner, connector)["attempts"] == 2

    run(_process_rounds(database_url, connector, rounds=3, max_attempts=3))
    row = _row(owner, connector)
    assert (row["status"], row["attempts"], row["processed_at"]) == ("parked", 3, None)
    (audit,) = owner.execute(
        "SELECT actor, detail FROM audit_log WHERE action = 'psp_webhook.parked' "
        "AND object_id = 'evt_psp_u' AND detail->>'connector' = %s",
        (connector,),
    ).fetchall()
    assert audit[0] == "system:psp_webhook"
    assert audit[1]["tries"] == 3


def test_an_unreadable_event_is_parked_at_once(
    database_url: str, owner: psycopg.Connection, connector: str
) -> None:
    run(_add(database_url, connector, "evt_psp_m", _body("chargeback.opened", {"id": "psd_1"})))
    run(_process_rounds(database_url, connector, rounds=1, max_attempts=8))
    row = _row(owner, connector)
    assert (row["status"], row["attempts"]) == ("parked", 1)
    assert "malformed" in row["last_error"]


def test_an_authorization_is_applied_once_however_often_it_arrives(
    database_url: str, owner: psycopg.Connection, merchant: str, connector: str
) -> None:
    intent = insert_intent(owner, merchant, amount=1000)
    attempt = new_id("att")
    owner.execute(
        "INSERT INTO payment_attempts (id, payment_intent_id, merchant_id, kind, status, "
        "connector, psp_idempotency_key, charge_id, amount, currency, payment_method) "
        "VALUES (%s, %s, %s, 'authorize', 'unknown', %s, %s, %s, 1000, 'usd', 'pm_card_visa')",
        (attempt, intent, merchant, connector, attempt, new_id("ch")),
    )
    data = _authorization(attempt, intent)
    for n in range(3):  # three deliveries of the fact, under distinct event ids
        run(_add(database_url, connector, f"evt_psp_{n}", _body("authorization.succeeded", data)))
    assert run(_process_rounds(database_url, connector, rounds=2, max_attempts=8)) == 3

    statuses = owner.execute(
        "SELECT DISTINCT status FROM psp_inbox WHERE connector = %s", (connector,)
    ).fetchall()
    assert statuses == [("processed",)]
    (intent_row,) = owner.execute(
        "SELECT status, amount_capturable FROM payment_intents WHERE id = %s", (intent,)
    ).fetchall()
    assert intent_row == ("requires_capture", 1000)
    assert owner.execute(
        "SELECT status, psp_reference FROM payment_attempts WHERE id = %s", (attempt,)
    ).fetchall() == [("succeeded", "psp_1")]
    journals = owner.execute(
        "SELECT kind FROM ledger_journals WHERE payment_intent_id = %s", (intent,)
    ).fetchall()
    assert journals == [("authorization",)]
    (actor,) = owner.execute(
        "SELECT actor FROM audit_log WHERE object_id = %s AND action = "
        "'payment_intent.authorize.succeeded'",
        (intent,),
    ).fetchall()
    assert actor == ("system:psp_webhook",)


def _refund_rows(
    owner: psycopg.Connection, merchant: str, connector: str, *, attempt_status: str
) -> tuple[str, str, str]:
    """A captured 1000 with a pending refund of 400 whose create call is in `attempt_status`."""
    intent = insert_intent(owner, merchant, amount=1000, status="succeeded")
    owner.execute(
        "UPDATE payment_intents SET amount_received = 1000, amount_refunded = 400, "
        "latest_charge = %s WHERE id = %s",
        (new_id("ch"), intent),
    )
    refund, attempt = new_id("re"), new_id("att")
    booked = attempt_status == "succeeded"
    owner.execute(
        "INSERT INTO refunds (id, merchant_id, payment_intent_id, amount, currency, status, "
        "connector, psp_reference, booked, created) "
        "VALUES (%s, %s, %s, 400, 'usd', 'pending', %s, %s, %s, 1)",
        (refund, merchant, intent, connector, "psr_1" if booked else None, booked),
    )
    owner.execute(
        "INSERT INTO payment_attempts (id, payment_intent_id, merchant_id, kind, status, "
        "connector, psp_idempotency_key, amount, currency, psp_reference, refund_id) "
        "VALUES (%s, %s, %s, 'refund', %s, %s, %s, 400, 'usd', 'psp_1', %s)",
        (attempt, intent, merchant, attempt_status, connector, attempt, refund),
    )
    return intent, refund, attempt


def _refund_event(key: str, status: str) -> bytes:
    reason = "insufficient_funds" if status == "failed" else None
    data = dict(
        id="psr_1", object="refund", authorization="psp_1", amount=400, currency="usd",
        status=status, failure_reason=reason, created=1, idempotency_key=key,
    )  # fmt: skip
    return _body(f"refund.{status}", data)


def test_a_booked_refunds_failure_is_reversed_once_and_a_stale_pending_changes_nothing(
    database_url: str, owner: psycopg.Connection, merchant: str, connector: str
) -> None:
    intent, refund, attempt = _refund_rows(owner, merchant, connector, attempt_status="succeeded")
    for n, status in enumerate(["failed", "failed", "pending", "succeeded"]):
        run(_add(database_url, connector, f"evt_psp_{n}", _refund_event(attempt, status)))
    run(_process_rounds(database_url, connector, rounds=2, max_attempts=8))

    statuses = owner.execute(
        "SELECT DISTINCT status FROM psp_inbox WHERE connector = %s", (connector,)
    ).fetchall()
    assert statuses == [("processed",)]
    assert owner.execute(
        "SELECT status, failure_reason FROM refunds WHERE id = %s", (refund,)
    ).fetchall() == [("failed", "insufficient_funds")]
    assert owner.execute(
        "SELECT amount_refunded FROM payment_intents WHERE id = %s", (intent,)
    ).fetchall() == [(0,)]
    assert owner.execute(
        "SELECT kind FROM ledger_journals WHERE payment_intent_id = %s", (intent,)
    ).fetchall() == [("refund_reversal",)]


def test_a_refund_failure_ahead_of_the_refund_calls_answer_waits_for_it(
    database_url: str, owner: psycopg.Connection, merchant: str, connector: str
) -> None:
    intent, refund, attempt = _refund_rows(owner, merchant, connector, attempt_status="unknown")
    run(_add(database_url, connector, "evt_psp_f", _refund_event(attempt, "failed")))
    run(_process_rounds(database_url, connector, rounds=1, max_attempts=8))
    row = _row(owner, connector)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "ahead of the refund call" in row["last_error"]
    assert owner.execute("SELECT status FROM refunds WHERE id = %s", (refund,)).fetchall() == [
        ("pending",)
    ]

    # The call's own answer (here: the pending event) comes; then the failure applies.
    run(_add(database_url, connector, "evt_psp_p", _refund_event(attempt, "pending")))
    run(_process_rounds(database_url, connector, rounds=2, max_attempts=8))
    assert owner.execute(
        "SELECT status, booked FROM refunds WHERE id = %s", (refund,)
    ).fetchall() == [("failed", True)]
    assert owner.execute(
        "SELECT status FROM payment_attempts WHERE id = %s", (attempt,)
    ).fetchall() == [("succeeded",)]
    journals = owner.execute(
        "SELECT kind FROM ledger_journals WHERE payment_intent_id = %s ORDER BY created_at, id",
        (intent,),
    ).fetchall()
    assert sorted(journals) == [("refund",), ("refund_reversal",)]


def _authorization(key: str, reference: str) -> dict[str, Any]:
    return dict(
        id="psp_1", object="authorization", status="authorized", amount=1000, currency="usd",
        captured_amount=0, merchant_reference=reference, payment_method="pm_card_visa",
        decline=None, created=1, idempotency_key=key, operation="authorize",
    )  # fmt: skip


def _dispute(reference: str) -> dict[str, Any]:
    return dict(
        id=new_id("psd"), object="dispute", authorization="psp_1", merchant_reference=reference,
        amount=1000, currency="usd", reason="fraudulent", status="needs_response", fee=1500,
        evidence={}, evidence_submitted=False, evidence_due_by=8, created=1, change_seq=1,
    )  # fmt: skip
