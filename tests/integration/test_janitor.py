"""The janitor on real PostgreSQL: a PSP call nobody can account for becomes one remediation
item, however many janitors look and however often; once the PSP answers, the item closes."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from pg_support import app_pool, insert_attempt, insert_intent, run

from payplane.adapters.db.uow import PgUnitOfWorkFactory
from payplane.services.janitor import Janitor

# Higher than any other test's attempts ever get, so only this test's rows qualify.
CHECKS = 40
MAX_WAIT = 20 * 24 * 3600


async def _sweep(database_url: str, janitors: int = 1) -> int:
    async with app_pool(database_url, size=janitors) as pool:
        factory = PgUnitOfWorkFactory(pool)
        sweeps = [
            Janitor(factory, escalate_after_checks=CHECKS, max_wait_seconds=MAX_WAIT).sweep(
                limit=100
            )
            for _ in range(janitors)
        ]
        return sum(await asyncio.gather(*sweeps))


def _items(owner: psycopg.Connection, attempt_id: str) -> list[dict[str, Any]]:
    cur = owner.execute(
        "SELECT type, status, run_id, merchant_id, amount, explanation FROM remediation_items "
        "WHERE attempt_id = %s",
        (attempt_id,),
    )
    names = [c.name for c in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _stuck_attempt(owner: psycopg.Connection, merchant: str, **columns: Any) -> str:
    intent = insert_intent(owner, merchant, amount=4200)
    attempt = insert_attempt(owner, intent, merchant, status="unknown", amount=4200)
    sets = ", ".join(f"{name} = %({name})s" for name in columns)
    owner.execute(
        f"UPDATE payment_attempts SET {sets} WHERE id = %(id)s",  # noqa: S608 - column names are ours
        {**columns, "id": attempt},
    )
    return attempt


def test_a_call_in_doubt_too_long_is_escalated_once_by_many_janitors(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    attempt = _stuck_attempt(owner, merchant, checks=CHECKS)
    fresh = _stuck_attempt(owner, merchant, checks=CHECKS - 1)
    run(_sweep(database_url, janitors=3))
    run(_sweep(database_url))
    (item,) = _items(owner, attempt)
    assert (item["type"], item["status"], item["run_id"]) == ("unresolved_payment", "open", None)
    assert (item["merchant_id"], item["amount"]) == (merchant, 4200)
    assert f"after {CHECKS} status checks" in item["explanation"]
    assert _items(owner, fresh) == []
    audit = owner.execute(
        "SELECT count(*) FROM audit_log WHERE action = 'remediation.escalated' "
        "AND detail ->> 'attempt' = %s",
        (attempt,),
    ).fetchone()
    assert audit == (1,)


def test_an_answer_after_escalation_resolves_the_item(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    attempt = _stuck_attempt(owner, merchant, checks=CHECKS)
    run(_sweep(database_url))
    owner.execute("UPDATE payment_attempts SET status = 'succeeded' WHERE id = %s", (attempt,))
    run(_sweep(database_url))
    (item,) = _items(owner, attempt)
    assert item["status"] == "auto_resolved"
    assert "the PSP answered later; the call succeeded" in item["explanation"]
    run(_sweep(database_url))
    assert len(_items(owner, attempt)) == 1


def test_a_payment_waiting_for_the_psp_for_weeks_is_escalated(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    old = _stuck_attempt(
        owner, merchant, status="awaiting", created_at=_days_ago(owner, 30), psp_reference="psp_x"
    )
    recent = _stuck_attempt(
        owner, merchant, status="awaiting", created_at=_days_ago(owner, 3), psp_reference="psp_y"
    )
    run(_sweep(database_url))
    assert [i["type"] for i in _items(owner, old)] == ["unresolved_payment"]
    assert _items(owner, recent) == []


def _days_ago(owner: psycopg.Connection, days: int) -> Any:
    row = owner.execute("SELECT now() - make_interval(days => %s)", (days,)).fetchone()
    assert row is not None
    return row[0]
