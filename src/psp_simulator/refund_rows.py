"""SQLite rows of refunds, used through a Transaction so they commit with the operation.

Every status a refund takes is also enqueued as a webhook event in the same transaction.
"""

from __future__ import annotations

import sqlite3

from psp_simulator.models import INSUFFICIENT_FUNDS, REFUND_STATUSES, Refund
from psp_simulator.settlement_rows import SettlementRows
from psp_simulator.webhook_rows import EventRows

SCHEMA = """
CREATE TABLE IF NOT EXISTS refunds (
    id TEXT PRIMARY KEY,
    authorization_id TEXT NOT NULL REFERENCES authorizations (id),
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
    failure_reason TEXT,
    created INTEGER NOT NULL,
    due_at REAL,
    final_status TEXT CHECK (final_status IN ('succeeded', 'failed')),
    -- Of the create operation: the settlement's webhook event carries it.
    idempotency_key TEXT
);
CREATE INDEX IF NOT EXISTS refunds_by_authorization ON refunds (authorization_id);
CREATE INDEX IF NOT EXISTS pending_refunds_by_due_at ON refunds (due_at) WHERE status = 'pending';
"""

_COLUMNS = (
    "id, authorization_id, amount, currency, status, failure_reason, created, due_at, final_status"
)

_SETTLE = f"""
UPDATE refunds SET status = final_status,
    failure_reason = CASE WHEN final_status = 'failed' THEN ? END
WHERE status = 'pending' AND due_at <= ?
RETURNING {_COLUMNS}, idempotency_key
"""  # noqa: S608 - constant columns


def migrate(connection: sqlite3.Connection) -> None:
    """Add what databases created by earlier versions lack."""
    columns = {row[1] for row in connection.execute("PRAGMA table_info(refunds)")}
    if "idempotency_key" not in columns:
        connection.execute("ALTER TABLE refunds ADD COLUMN idempotency_key TEXT")


class RefundRows:
    def __init__(
        self,
        connection: sqlite3.Connection,
        events: EventRows,
        settlement: SettlementRows,
        idempotency_key: str | None,
    ) -> None:
        self._connection = connection
        self._events = events
        self._settlement = settlement
        self._idempotency_key = idempotency_key

    def settle_due(self, now: float) -> None:
        """Give every pending refund whose time has come its final status.

        Settling before any read or action (and from the app's sweeper) makes a refund's history
        depend only on the clock, not on when a background task last ran.
        """
        rows = self._connection.execute(_SETTLE, (INSUFFICIENT_FUNDS, now)).fetchall()
        for row in sorted(rows, key=lambda row: (row[7], row[0])):
            refund = Refund(*row[:-1])
            self._events.refund_changed(refund, row[-1])
            self._settlement.refund_saved(refund)

    def get(self, refund_id: str) -> Refund | None:
        row = self._connection.execute(
            f"SELECT {_COLUMNS} FROM refunds WHERE id = ?",  # noqa: S608 - constant columns
            (refund_id,),
        ).fetchone()
        return None if row is None else Refund(*row)

    def insert(self, refund: Refund) -> None:
        self._connection.execute(
            f"INSERT INTO refunds ({_COLUMNS}, idempotency_key) "  # noqa: S608
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                refund.id,
                refund.authorization_id,
                refund.amount,
                refund.currency,
                refund.status,
                refund.failure_reason,
                refund.created,
                refund.due_at,
                refund.final_status,
                self._idempotency_key,
            ),
        )
        self._events.refund_changed(refund, self._idempotency_key)
        self._settlement.refund_saved(refund)

    def update_status(self, refund: Refund) -> None:
        """Store a change made by an operation (a cancel): its event carries that key."""
        self._connection.execute(
            "UPDATE refunds SET status = ?, failure_reason = ? WHERE id = ?",
            (refund.status, refund.failure_reason, refund.id),
        )
        self._events.refund_changed(refund, self._idempotency_key)

    def committed_amount(self, authorization_id: str) -> int:
        """What is refunded or on its way back: failed and canceled refunds return nothing."""
        (amount,) = self._connection.execute(
            "SELECT COALESCE(SUM(amount), 0) FROM refunds "
            "WHERE authorization_id = ? AND status IN ('pending', 'succeeded')",
            (authorization_id,),
        ).fetchone()
        assert isinstance(amount, int)
        return amount

    def counts(self) -> dict[str, int]:
        by_status: dict[str, int] = dict.fromkeys(REFUND_STATUSES, 0)
        for status, count in self._connection.execute(
            "SELECT status, COUNT(*) FROM refunds GROUP BY status"
        ):
            by_status[status] = count
        return {"total": sum(by_status.values()), **by_status}
