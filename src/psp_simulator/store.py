"""SQLite storage: authorizations, refunds, disputes, the operations behind them, webhook events.

One connection is shared behind a lock: every statement is microseconds long, so serialising them
costs less than opening connections or hopping threads per request.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import orjson

from psp_simulator import (
    authorization_rows,
    dispute_rows,
    refund_rows,
    settlement_rows,
    webhook_rows,
)
from psp_simulator.dispute_rows import DisputeRows
from psp_simulator.models import STATUSES, Authorization, Outcome
from psp_simulator.refund_rows import RefundRows
from psp_simulator.settlement_rows import SettlementRows
from psp_simulator.webhook_rows import EventRows

ResultT = TypeVar("ResultT")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS operations (
    idempotency_key TEXT NOT NULL UNIQUE,
    fingerprint TEXT NOT NULL,
    path TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    response BLOB NOT NULL,
    created INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class StoredOperation:
    idempotency_key: str
    fingerprint: str
    status_code: int
    response: bytes


class Transaction:
    """The reads and writes of one operation; they commit together with its stored response.

    Every write of a business change also enqueues its webhook event here, in the same transaction;
    `idempotency_key` is the key of the operation running it, None outside operations.
    """

    def __init__(self, connection: sqlite3.Connection, idempotency_key: str | None = None) -> None:
        self._connection = connection
        self.idempotency_key = idempotency_key
        self.events = EventRows(connection)
        # Money movements record their settlement lines here, in the same transaction.
        self.settlement = SettlementRows(connection, self.get)
        self.refunds = RefundRows(connection, self.events, self.settlement, idempotency_key)
        self.disputes = DisputeRows(connection, self.events, self.settlement)

    def get(self, authorization_id: str) -> Authorization | None:
        return authorization_rows.read(self._connection, authorization_id)

    def insert(self, authorization: Authorization) -> None:
        authorization_rows.insert(self._connection, authorization)
        self.events.authorization_changed(authorization, "authorize", self.idempotency_key)
        self.settlement.authorization_saved(authorization)

    def update(self, authorization: Authorization, operation: str) -> None:
        """Store a change made by `operation` (capture, void, expire, or authorize).

        "authorize" is a change nobody asked for by key (the customer on a hosted page, the bank,
        the clock): it continues the create operation, so its event carries that key.
        """
        authorization_rows.update(self._connection, authorization)
        key = authorization.idempotency_key if operation == "authorize" else self.idempotency_key
        self.events.authorization_changed(authorization, operation, key)
        self.settlement.authorization_saved(authorization)

    def settle_due_authorizations(self, now: float) -> None:
        """Apply what the clock has decided: expire unanswered payments, settle pending ones.

        Done before reads and actions (and by the app's sweeper), so an authorization's history
        depends only on the clock.
        """
        for authorization in authorization_rows.due(self._connection, now):
            authorization.come_due()
            self.update(authorization, "authorize")


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are opened explicitly so their extent is visible here.
        self._connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock:
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=NORMAL")
            self._connection.execute("PRAGMA busy_timeout=5000")
            authorization_rows.migrate(self._connection)
            self._connection.executescript(
                authorization_rows.SCHEMA
                + _SCHEMA
                + refund_rows.SCHEMA
                + dispute_rows.SCHEMA
                + webhook_rows.SCHEMA
                + settlement_rows.SCHEMA
            )
            refund_rows.migrate(self._connection)

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def find_operation(self, idempotency_key: str) -> StoredOperation | None:
        with self._lock:
            return _read_operation(self._connection, idempotency_key)

    def run_operation(
        self,
        idempotency_key: str,
        fingerprint: str,
        path: str,
        action: Callable[[Transaction], Outcome],
    ) -> tuple[StoredOperation, bool]:
        """Apply `action` and store its response atomically, unless the key already ran.

        Returns the stored operation and whether it was already there (a concurrent duplicate
        that slipped past the caller's early lookup).
        """
        with self._lock, self._transaction() as connection:
            existing = _read_operation(connection, idempotency_key)
            if existing is not None:
                return existing, True
            outcome = action(Transaction(connection, idempotency_key))
            response = orjson.dumps(outcome.body)
            stored = StoredOperation(idempotency_key, fingerprint, outcome.status_code, response)
            connection.execute(
                "INSERT INTO operations "
                "(idempotency_key, fingerprint, path, status_code, response, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    idempotency_key,
                    fingerprint,
                    path,
                    stored.status_code,
                    response,
                    int(time.time()),
                ),
            )
            return stored, False

    def transact(self, action: Callable[[Transaction], ResultT]) -> ResultT:
        """Run `action` in one transaction that stores no operation.

        For reads that settle due refunds first, and for operator changes, which are not
        idempotent requests.
        """
        with self._lock, self._transaction() as connection:
            return action(Transaction(connection))

    def stats(self) -> dict[str, object]:
        with self._lock, self._transaction() as connection:
            tx = Transaction(connection)
            now = time.time()
            tx.settle_due_authorizations(now)
            tx.refunds.settle_due(now)
            by_status: dict[str, int] = dict.fromkeys(STATUSES, 0)
            rows = self._connection.execute(
                "SELECT status, COUNT(*) FROM authorizations GROUP BY status"
            )
            for status, count in rows:
                by_status[status] = count
            (operations,) = self._connection.execute("SELECT COUNT(*) FROM operations").fetchone()
            return {
                "authorizations": {"total": sum(by_status.values()), **by_status},
                "operations": operations,
                "refunds": tx.refunds.counts(),
                "disputes": tx.disputes.counts(),
            }

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so a second process sharing the file waits
        # instead of failing half-way through an operation.
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            yield self._connection
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")


def _read_operation(connection: sqlite3.Connection, idempotency_key: str) -> StoredOperation | None:
    row = connection.execute(
        "SELECT fingerprint, status_code, response FROM operations WHERE idempotency_key = ?",
        (idempotency_key,),
    ).fetchone()
    if row is None:
        return None
    return StoredOperation(idempotency_key, row[0], row[1], bytes(row[2]))
