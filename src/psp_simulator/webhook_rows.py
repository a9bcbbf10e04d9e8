"""The webhook outbox: events enqueued in the transaction of the change they report.

Writing the event with the change means a committed change always gets its event and a rolled
back one never does; the sender delivers from this table, so a restart resumes where it stopped.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from dataclasses import dataclass

import orjson

from psp_simulator.models import Authorization, Dispute, Refund, Status

SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    created INTEGER NOT NULL,
    payload BLOB NOT NULL,
    delivered_at REAL,
    dropped INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    duplicates_sent INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_webhook_events ON webhook_events (seq)
    WHERE delivered_at IS NULL;
"""

_AUTHORIZATION_TYPES: dict[Status, str] = {
    "requires_action": "authorization.requires_action",
    "pending": "authorization.pending",
    "authorized": "authorization.succeeded",
    "captured": "authorization.captured",
    "declined": "authorization.failed",
    "voided": "authorization.voided",
}
_CLOSING_DISPUTE_TYPES = {
    "won": "chargeback.won",
    "lost": "chargeback.lost",
    "warning_closed": "chargeback.closed",
}


@dataclass(frozen=True, slots=True)
class PendingEvent:
    id: str
    # The exact body to POST, fixed at enqueue time so every retry and duplicate is identical.
    payload: bytes
    attempts: int


class EventRows:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def authorization_changed(
        self, authorization: Authorization, operation: str, idempotency_key: str | None
    ) -> None:
        data = authorization.to_json()
        data.update(idempotency_key=idempotency_key, operation=operation)
        self.enqueue(_AUTHORIZATION_TYPES[authorization.status], data)

    def refund_changed(self, refund: Refund, idempotency_key: str | None) -> None:
        data = refund.to_json()
        data["idempotency_key"] = idempotency_key
        # Receivers route by product (each may be a connector of its own): the payment's.
        row = self._connection.execute(
            "SELECT product FROM authorizations WHERE id = ?", (refund.authorization_id,)
        ).fetchone()
        data["product"] = row[0] if row is not None else "card"
        self.enqueue(f"refund.{refund.status}", data)

    def dispute_changed(self, dispute: Dispute, opened: bool) -> None:
        event_type = _CLOSING_DISPUTE_TYPES.get(dispute.status, "chargeback.updated")
        self.enqueue("chargeback.opened" if opened else event_type, dispute.to_json())

    def enqueue(self, event_type: str, data: dict[str, object]) -> None:
        now = time.time()
        event_id = f"evt_psp_{secrets.token_hex(12)}"
        payload = orjson.dumps(
            {"id": event_id, "type": event_type, "created": int(now), "data": data}
        )
        self._connection.execute(
            "INSERT INTO webhook_events (id, type, created, payload, next_attempt_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (event_id, event_type, int(now), payload, now),
        )

    def due(self, now: float, limit: int) -> list[PendingEvent]:
        """Undelivered events whose next attempt has come, oldest first."""
        rows = self._connection.execute(
            "SELECT id, payload, attempts FROM webhook_events "
            "WHERE delivered_at IS NULL AND next_attempt_at <= ? ORDER BY seq LIMIT ?",
            (now, limit),
        ).fetchall()
        return [PendingEvent(row[0], bytes(row[1]), row[2]) for row in rows]

    def delivered(self, event_id: str, now: float, duplicates: int) -> None:
        """The attempt that just succeeded, and any duplicate sent after it."""
        self._connection.execute(
            "UPDATE webhook_events SET delivered_at = ?, attempts = attempts + 1, "
            "duplicates_sent = duplicates_sent + ? WHERE id = ?",
            (now, duplicates, event_id),
        )

    def dropped(self, event_id: str, now: float) -> None:
        self._connection.execute(
            "UPDATE webhook_events SET delivered_at = ?, dropped = 1 WHERE id = ?",
            (now, event_id),
        )

    def failed(self, event_id: str, next_attempt_at: float) -> None:
        self._connection.execute(
            "UPDATE webhook_events SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?",
            (next_attempt_at, event_id),
        )

    def pending_count(self) -> int:
        (count,) = self._connection.execute(
            "SELECT COUNT(*) FROM webhook_events WHERE delivered_at IS NULL"
        ).fetchone()
        assert isinstance(count, int)
        return count

    def stats(self) -> dict[str, int]:
        row = self._connection.execute(
            "SELECT COUNT(*) - COUNT(delivered_at), "
            "COUNT(delivered_at) - COALESCE(SUM(dropped), 0), COALESCE(SUM(dropped), 0), "
            "COALESCE(SUM(duplicates_sent), 0), COALESCE(SUM(attempts), 0) FROM webhook_events"
        ).fetchone()
        keys = ("pending", "delivered", "dropped", "duplicates_sent", "attempts")
        return dict(zip(keys, row, strict=True))
