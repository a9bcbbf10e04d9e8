"""Ledger writes: journals and their entries. Balance and append-only rules live in PostgreSQL."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from payplane.domain.ids import new_id
from payplane.domain.ledger import Hold, Journal
from payplane.domain.money import Money

# Accounts never change once created, so their ids are cached for the life of the process.
_ACCOUNT_IDS: dict[str, int] = {}


class PgLedger:
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    async def _account_id(self, code: str, currency: str) -> int:
        cached = _ACCOUNT_IDS.get(code)
        if cached is not None:
            return cached
        cur = await self._conn.execute("SELECT id FROM ledger_accounts WHERE code = %s", (code,))
        row = await cur.fetchone()
        if row is not None:
            account_id: int = row[0]
            _ACCOUNT_IDS[code] = account_id  # committed by someone: safe to remember
            return account_id
        # Not cached: this transaction may still roll back and take the new account with it.
        merchant_id = code.split(":")[1] if code.startswith("merchant:") else None
        cur = await self._conn.execute(
            "INSERT INTO ledger_accounts (code, currency, merchant_id) VALUES (%s, %s, %s) "
            "ON CONFLICT (code) DO NOTHING RETURNING id",
            (code, currency, merchant_id),
        )
        row = await cur.fetchone()
        if row is None:  # a concurrent transaction created it first and has committed since
            cur = await self._conn.execute(
                "SELECT id FROM ledger_accounts WHERE code = %s", (code,)
            )
            row = await cur.fetchone()
        assert row is not None
        created: int = row[0]
        return created

    async def post(self, journal: Journal) -> str:
        journal_id = new_id("jrn")
        await self._conn.execute(
            "INSERT INTO ledger_journals (id, kind, payment_intent_id, hold_id, resolves_hold_id) "
            "VALUES (%s, %s, %s, %s, %s)",
            (
                journal_id,
                journal.kind.value,
                journal.payment_intent_id,
                journal.hold_id,
                journal.resolves_hold_id,
            ),
        )
        columns: list[list[object]] = [[], [], [], [], []]
        for e in journal.entries:
            account_id = await self._account_id(e.account, e.money.currency)
            values = (
                account_id,
                e.direction.value,
                e.money.amount,
                e.money.currency,
                e.entry_type.value,
            )
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        # One statement per journal: the balance trigger then locks its accounts in id order.
        await self._conn.execute(
            "INSERT INTO ledger_entries (journal_id, payment_intent_id, account_id, direction, "
            "amount, currency, entry_type) SELECT %s, %s, * FROM unnest("
            "%s::bigint[], %s::text[], %s::bigint[], %s::text[], %s::text[])",
            (journal_id, journal.payment_intent_id, *columns),
        )
        return journal_id

    async def open_hold(self, intent_id: str) -> Hold | None:
        """The intent's authorization hold that no capture, void or expiry has resolved yet."""
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            """
            SELECT h.hold_id, a.merchant_id, a.connector, a.amount, a.currency
              FROM ledger_journals h
              JOIN payment_attempts a ON a.id = h.hold_id
             WHERE h.payment_intent_id = %s AND h.hold_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM ledger_journals r WHERE r.resolves_hold_id = h.hold_id)
            """,
            (intent_id,),
        )
        row = await cur.fetchone()
        if row is None:
            return None
        return Hold(
            row["hold_id"],
            row["merchant_id"],
            row["connector"],
            Money(row["amount"], row["currency"]),
        )

    async def entries_for(self, intent_id: str) -> list[dict[str, Any]]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            """
            SELECT e.id, e.journal_id, j.kind AS journal_kind, a.code AS account, e.direction,
                   e.amount, e.currency, e.entry_type, e.created_at
              FROM ledger_entries e
              JOIN ledger_journals j ON j.id = e.journal_id
              JOIN ledger_accounts a ON a.id = e.account_id
             WHERE e.payment_intent_id = %s ORDER BY e.id
            """,
            (intent_id,),
        )
        return await cur.fetchall()
