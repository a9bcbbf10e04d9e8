"""remediation_items with their notes and journals: the remediation queue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from payplane.adapters.db.listing import page
from payplane.domain.errors import ResourceMissing
from payplane.domain.ledger import Balance, suspense_account
from payplane.domain.remediation import BreakType, ItemStatus
from payplane.services.ports import ListQuery, Page
from payplane.services.reconciliation_ports import RemediationItem

_VIEW = "remediation_item_objects"


def _suspense(row: dict[str, Any]) -> list[Balance]:
    return [
        Balance(suspense_account(row["source"], leg["currency"], row["type"]), **leg)
        for leg in row["suspense"]
    ]


def _to_item(row: dict[str, Any]) -> RemediationItem:
    return RemediationItem(
        id=row["id"],
        run_id=row["run_id"],
        type=BreakType(row["type"]),
        status=ItemStatus(row["status"]),
        merchant_id=row["merchant_id"],
        payment_intent_id=row["payment_intent_id"],
        suspense=_suspense(row),
        attempt_id=row["attempt_id"],
        assignee=row["assignee"],
        explanation=row["explanation"],
        amount=row["amount"],
        currency=row["currency"],
        movement_kind=row["movement_kind"],
        movement_id=row["movement_id"],
        report_id=row["report_id"],
        line_no=row["line_no"],
    )


def to_object(row: dict[str, Any]) -> dict[str, Any]:
    """The API's remediation_item. Amounts are signed like the PSP receivable: positive is
    money the PSP owes; suspense nets are debits minus credits."""
    line = None
    if row["line_no"] is not None:
        line = {
            "report": row["report_id"],
            "number": row["line_no"],
            "type": row["line_type"],
            "batch_number": row["batch_number"],
            "psp_reference": row["psp_reference"],
            "merchant_reference": row["merchant_reference"],
            "modification_reference": row["modification_reference"],
        }
    movement = None
    if row["movement_id"] is not None:
        movement = {"kind": row["movement_kind"], "id": row["movement_id"]}
    return {
        "id": row["id"],
        "object": "remediation_item",
        "type": row["type"],
        "status": row["status"],
        "run": row["run_id"],
        "source": row["source"],
        "report_date": row["report_date"] and row["report_date"].isoformat(),
        "merchant": row["merchant_id"],
        "payment_intent": row["payment_intent_id"],
        "movement": movement,
        "line": line,
        "amount": row["amount"],
        "currency": row["currency"],
        "expected_amount": row["expected_amount"],
        "expected_currency": row["expected_currency"],
        "suspense": [
            {"account": leg.account, "currency": leg.currency, "net": leg.net}
            for leg in _suspense(row)
        ],
        "attempt": row["attempt_id"],
        "proposal": row["proposal"],
        "assignee": row["assignee"],
        "explanation": row["explanation"],
        "notes": row["notes"],
        "journals": row["journals"],
        "created": row["created"],
        "updated": int(row["updated_at"].timestamp()),
    }


class PgRemediationItems:
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    async def _row(self, item_id: str, *, lock: bool = False) -> dict[str, Any]:
        cur = self._conn.cursor(row_factory=dict_row)
        if lock:
            await cur.execute(
                "SELECT 1 FROM remediation_items WHERE id = %s FOR UPDATE", (item_id,)
            )
        await cur.execute(f"SELECT * FROM {_VIEW} WHERE id = %s", (item_id,))
        row = await cur.fetchone()
        if row is None:
            raise ResourceMissing("remediation item", item_id)
        return row

    async def get(self, item_id: str, *, lock: bool = False) -> RemediationItem:
        return _to_item(await self._row(item_id, lock=lock))

    async def save(self, item: RemediationItem) -> None:
        await self._conn.execute(
            "UPDATE remediation_items SET status = %s, assignee = %s, explanation = %s, "
            "updated_at = now() WHERE id = %s",
            (item.status.value, item.assignee, item.explanation, item.id),
        )

    async def add_note(self, item_id: str, actor: str, text: str) -> None:
        await self._conn.execute(
            "INSERT INTO remediation_notes (item_id, actor, text) VALUES (%s, %s, %s)",
            (item_id, actor, text),
        )

    async def link_journal(self, item_id: str, journal_id: str, purpose: str) -> None:
        await self._conn.execute(
            "INSERT INTO remediation_item_journals (item_id, journal_id, purpose) "
            "VALUES (%s, %s, %s)",
            (item_id, journal_id, purpose),
        )

    async def record_match(self, item: RemediationItem) -> None:
        await self._conn.execute(
            "INSERT INTO settlement_matches (movement_kind, movement_id, run_id, report_id, "
            "line_no) VALUES (%s, %s, %s, %s, %s)",
            (item.movement_kind, item.movement_id, item.run_id, item.report_id, item.line_no),
        )

    async def render(self, item_id: str) -> dict[str, Any]:
        return to_object(await self._row(item_id))

    async def for_run(self, run_id: str) -> list[dict[str, Any]]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(f"SELECT * FROM {_VIEW} WHERE run_id = %s ORDER BY seq", (run_id,))
        return [to_object(row) for row in await cur.fetchall()]

    async def awaiting_psp(self, source: str) -> Sequence[RemediationItem]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            f"SELECT * FROM {_VIEW} WHERE source = %s AND type = 'missing_internally' "
            "AND status = 'open' AND attempt_id IS NOT NULL ORDER BY seq",
            (source,),
        )
        return [_to_item(row) for row in await cur.fetchall()]

    async def list(self, query: ListQuery) -> Page:
        return await page(
            self._conn,
            table=_VIEW,
            resource="remediation item",
            merchant_id=None,
            query=query,
            to_object=to_object,
        )

    async def escalate_unresolved(
        self, *, min_checks: int, max_wait_seconds: float, limit: int
    ) -> Sequence[RemediationItem]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            _ESCALATE, {"checks": min_checks, "wait": max_wait_seconds, "limit": limit}
        )
        return [_to_item(row) for row in await cur.fetchall()]

    async def settle_unresolved(self, *, limit: int) -> Sequence[RemediationItem]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_SETTLE, {"limit": limit})
        return [_to_item(row) for row in await cur.fetchall()]


# The attempt's own backoff decides how often the PSP is asked; this only makes a call that
# stays unanswered visible, once (a unique index keeps it once under concurrent janitors).
# %%s are format()'s placeholders, escaped from psycopg's.
_ESCALATE = """
INSERT INTO remediation_items (id, source, type, merchant_id, payment_intent_id, amount,
    currency, attempt_id, explanation, created)
SELECT 'rmi_' || replace(gen_random_uuid()::text, '-', ''), a.connector, 'unresolved_payment',
       a.merchant_id, a.payment_intent_id, a.amount, a.currency, a.id,
       format('The PSP has not said what became of this %%s call (attempt %%s, status %%s) '
              'after %%s status checks since %%s. Check with the PSP, then resolve this item; '
              'Payplane keeps asking and resolves it itself if the PSP answers.',
              a.kind, a.id, a.status, a.checks, to_char(a.created_at, 'YYYY-MM-DD HH24:MI UTC')),
       extract(epoch FROM now())::bigint
  FROM payment_attempts a
 WHERE ((a.status IN ('pending', 'unknown') AND a.checks >= %(checks)s)
        OR (a.status IN ('awaiting', 'requires_action')
            AND a.created_at < now() - make_interval(secs => %(wait)s)))
   AND NOT EXISTS (SELECT 1 FROM remediation_items i
                    WHERE i.attempt_id = a.id AND i.type = 'unresolved_payment')
 ORDER BY a.created_at
 LIMIT %(limit)s
ON CONFLICT DO NOTHING
RETURNING *
"""

_SETTLE = """
UPDATE remediation_items i
   SET status = 'auto_resolved', updated_at = now(),
       explanation = i.explanation || format(' Resolved: the PSP answered later; the call %%s.',
                                             a.status)
  FROM payment_attempts a
 WHERE i.id IN (SELECT i2.id FROM remediation_items i2
                 JOIN payment_attempts a2 ON a2.id = i2.attempt_id
                WHERE i2.type = 'unresolved_payment' AND i2.status IN ('open', 'in_review')
                  AND a2.status IN ('succeeded', 'failed')
                LIMIT %(limit)s FOR UPDATE OF i2 SKIP LOCKED)
   AND a.id = i.attempt_id
RETURNING i.*
"""
