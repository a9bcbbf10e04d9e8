"""SQLite rows of disputes and the change counter clients poll them by."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from psp_simulator.models import DISPUTE_STATUSES, Dispute
from psp_simulator.settlement_rows import SettlementRows
from psp_simulator.webhook_rows import EventRows

SCHEMA = """
CREATE TABLE IF NOT EXISTS disputes (
    id TEXT PRIMARY KEY,
    authorization_id TEXT NOT NULL REFERENCES authorizations (id),
    merchant_reference TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN (
        'warning_needs_response', 'warning_under_review', 'warning_closed',
        'needs_response', 'under_review', 'won', 'lost'
    )),
    fee INTEGER NOT NULL CHECK (fee >= 0),
    evidence TEXT NOT NULL,
    evidence_submitted INTEGER NOT NULL,
    evidence_due_by INTEGER NOT NULL,
    created INTEGER NOT NULL,
    change_seq INTEGER NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters (name, value) VALUES ('dispute_changes', 0);
"""

_COLUMNS = (
    "id, authorization_id, merchant_reference, amount, currency, reason, status, fee, evidence, "
    "evidence_submitted, evidence_due_by, created, change_seq"
)
# Only what a dispute's lifecycle can change; the rest is fixed when it opens.
_UPSERT = f"""
INSERT INTO disputes ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    status = excluded.status,
    fee = excluded.fee,
    evidence = excluded.evidence,
    evidence_submitted = excluded.evidence_submitted,
    evidence_due_by = excluded.evidence_due_by,
    change_seq = excluded.change_seq
"""  # noqa: S608 - constant columns


class DisputeRows:
    def __init__(
        self, connection: sqlite3.Connection, events: EventRows, settlement: SettlementRows
    ) -> None:
        self._connection = connection
        self._events = events
        self._settlement = settlement

    def get(self, dispute_id: str) -> Dispute | None:
        row = self._connection.execute(
            f"SELECT {_COLUMNS} FROM disputes WHERE id = ?",  # noqa: S608 - constant columns
            (dispute_id,),
        ).fetchone()
        return None if row is None else _dispute(row)

    def save(self, dispute: Dispute) -> None:
        """Insert or update `dispute`, giving it the next change_seq.

        Every write goes through here, so every change is seen exactly once by a client polling
        with changed_after; the counter is one row, so numbers stay unique and increasing even
        across deletes and concurrent processes (writes hold the database lock). Each save also
        enqueues the dispute's webhook event; a dispute never saved before has change_seq 0.
        """
        opened = dispute.change_seq == 0
        (dispute.change_seq,) = self._connection.execute(
            "UPDATE counters SET value = value + 1 WHERE name = 'dispute_changes' RETURNING value"
        ).fetchone()
        self._connection.execute(
            _UPSERT,
            (
                dispute.id,
                dispute.authorization_id,
                dispute.merchant_reference,
                dispute.amount,
                dispute.currency,
                dispute.reason,
                dispute.status,
                dispute.fee,
                orjson.dumps(dispute.evidence).decode(),
                dispute.evidence_submitted,
                dispute.evidence_due_by,
                dispute.created,
                dispute.change_seq,
            ),
        )
        self._events.dispute_changed(dispute, opened)
        self._settlement.dispute_saved(dispute)

    def changed_after(self, change_seq: int, limit: int) -> tuple[list[Dispute], bool]:
        """Disputes last changed after `change_seq`, oldest change first, and whether more exist."""
        rows = self._connection.execute(
            f"SELECT {_COLUMNS} FROM disputes WHERE change_seq > ? "  # noqa: S608
            "ORDER BY change_seq LIMIT ?",
            (change_seq, limit + 1),
        ).fetchall()
        return [_dispute(row) for row in rows[:limit]], len(rows) > limit

    def counts(self) -> dict[str, int]:
        by_status: dict[str, int] = dict.fromkeys(DISPUTE_STATUSES, 0)
        for status, count in self._connection.execute(
            "SELECT status, COUNT(*) FROM disputes GROUP BY status"
        ):
            by_status[status] = count
        return {"total": sum(by_status.values()), **by_status}


def _dispute(row: tuple[Any, ...]) -> Dispute:
    return Dispute(
        id=row[0],
        authorization_id=row[1],
        merchant_reference=row[2],
        amount=row[3],
        currency=row[4],
        reason=row[5],
        status=row[6],
        fee=row[7],
        evidence=orjson.loads(row[8]),
        evidence_submitted=bool(row[9]),
        evidence_due_by=row[10],
        created=row[11],
        change_seq=row[12],
    )
