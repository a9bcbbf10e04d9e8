"""SQLite rows of authorizations; the Transaction in store.py reads and writes them through here."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from psp_simulator.cards import Decline
from psp_simulator.models import Authorization

_DEFINITION = """(
    id TEXT PRIMARY KEY,
    merchant_reference TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN (
        'requires_action', 'pending', 'authorized', 'captured', 'voided', 'declined'
    )),
    captured_amount INTEGER NOT NULL CHECK (captured_amount BETWEEN 0 AND amount),
    payment_method TEXT NOT NULL,
    decline TEXT,
    created INTEGER NOT NULL,
    product TEXT NOT NULL DEFAULT 'card'
        CHECK (product IN ('card', 'wallet', 'bank_redirect', 'bank_debit')),
    page_url TEXT,
    return_url TEXT,
    expires_at REAL,
    capture INTEGER NOT NULL DEFAULT 0,
    final_decline TEXT,
    settle_seconds REAL,
    due_at REAL,
    idempotency_key TEXT
)"""
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS authorizations {_DEFINITION};
CREATE INDEX IF NOT EXISTS authorizations_awaiting_action ON authorizations (expires_at)
    WHERE status = 'requires_action';
CREATE INDEX IF NOT EXISTS pending_authorizations ON authorizations (due_at)
    WHERE status = 'pending';
"""
# What databases made before products existed hold, in the order of the table's first columns.
_FIRST_COLUMNS = (
    "id, merchant_reference, amount, currency, status, captured_amount, payment_method, decline, "
    "created"
)
_COLUMNS = (
    f"{_FIRST_COLUMNS}, product, page_url, return_url, expires_at, capture, final_decline, "
    "settle_seconds, due_at, idempotency_key"
)


def migrate(connection: sqlite3.Connection) -> None:
    """Rebuild a table made before products existed; run before SCHEMA, whose indexes need them.

    SQLite cannot widen a CHECK constraint in place, so the rows move to a new table. Renaming the
    new table (not the old one) leaves the references of refunds and disputes untouched.
    """
    columns = {row[1] for row in connection.execute("PRAGMA table_info(authorizations)")}
    if not columns or "product" in columns:
        return
    connection.executescript(
        "BEGIN IMMEDIATE;"  # noqa: S608 - constant columns
        f"CREATE TABLE authorizations_rebuilt {_DEFINITION};"
        f"INSERT INTO authorizations_rebuilt ({_FIRST_COLUMNS}) "
        f"SELECT {_FIRST_COLUMNS} FROM authorizations;"
        "DROP TABLE authorizations;"
        "ALTER TABLE authorizations_rebuilt RENAME TO authorizations;"
        "COMMIT;"
    )


def read(connection: sqlite3.Connection, authorization_id: str) -> Authorization | None:
    row = connection.execute(
        f"SELECT {_COLUMNS} FROM authorizations WHERE id = ?",  # noqa: S608 - constant columns
        (authorization_id,),
    ).fetchone()
    return None if row is None else _authorization(row)


def insert(connection: sqlite3.Connection, authorization: Authorization) -> None:
    connection.execute(
        f"INSERT INTO authorizations ({_COLUMNS}) "  # noqa: S608 - constant columns
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            authorization.id,
            authorization.merchant_reference,
            authorization.amount,
            authorization.currency,
            authorization.status,
            authorization.captured_amount,
            authorization.payment_method,
            _decline_text(authorization.decline),
            authorization.created,
            authorization.product,
            authorization.page_url,
            authorization.return_url,
            authorization.expires_at,
            authorization.capture,
            _decline_text(authorization.final_decline),
            authorization.settle_seconds,
            authorization.due_at,
            authorization.idempotency_key,
        ),
    )


def update(connection: sqlite3.Connection, authorization: Authorization) -> None:
    """Store a move of its lifecycle: only these columns change after creation."""
    connection.execute(
        "UPDATE authorizations SET status = ?, captured_amount = ?, decline = ?, due_at = ? "
        "WHERE id = ?",
        (
            authorization.status,
            authorization.captured_amount,
            _decline_text(authorization.decline),
            authorization.due_at,
            authorization.id,
        ),
    )


def due(connection: sqlite3.Connection, now: float) -> list[Authorization]:
    """Payments the clock must move: unanswered ones past expires_at, pending ones past due_at."""
    # In the order they fell due, so their events go out in that order too.
    rows = connection.execute(
        f"SELECT {_COLUMNS}, expires_at AS moment FROM authorizations "  # noqa: S608 - constant
        "WHERE status = 'requires_action' AND expires_at <= ? "
        "UNION ALL "
        f"SELECT {_COLUMNS}, due_at FROM authorizations "
        "WHERE status = 'pending' AND due_at <= ? "
        "ORDER BY moment, id",
        (now, now),
    ).fetchall()
    return [_authorization(row) for row in rows]


def _decline_text(decline: Decline | None) -> str | None:
    return None if decline is None else orjson.dumps(decline.to_json()).decode()


def _decline(text: str | None) -> Decline | None:
    return None if text is None else Decline(**orjson.loads(text))


def _authorization(row: tuple[Any, ...]) -> Authorization:
    return Authorization(
        id=row[0],
        merchant_reference=row[1],
        amount=row[2],
        currency=row[3],
        status=row[4],
        captured_amount=row[5],
        payment_method=row[6],
        decline=_decline(row[7]),
        created=row[8],
        product=row[9],
        page_url=row[10],
        return_url=row[11],
        expires_at=row[12],
        capture=bool(row[13]),
        final_decline=_decline(row[14]),
        settle_seconds=row[15],
        due_at=row[16],
        idempotency_key=row[17],
    )
