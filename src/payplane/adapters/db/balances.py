"""A merchant's balances and ledger accounts, read from the sharded per-account sums that the
ledger_entries trigger keeps (never by summing entries), and its accounts' entries, paginated."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from payplane.domain.errors import ResourceMissing
from payplane.services.ports import ListQuery, Page

ACCOUNT_PREFIX = "la_"
ENTRY_PREFIX = "le_"
_MAX_BIGINT = 2**63 - 1


def _internal_id(prefix: str, external_id: str) -> int | None:
    """The bigint behind la_<n> / le_<n>; None for anything we could not have issued."""
    match = re.fullmatch(re.escape(prefix) + r"([1-9][0-9]{0,18})", external_id)
    if match is None or int(match.group(1)) > _MAX_BIGINT:
        return None
    return int(match.group(1))


def _unix(at: datetime) -> int:
    return int(at.timestamp())


def _to_account(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"{ACCOUNT_PREFIX}{row['id']}",
        "object": "ledger_account",
        "code": row["code"],
        "purpose": row["code"].rsplit(":", 1)[-1],
        "currency": row["currency"],
        "balance": {
            "debits": row["debits"],
            "credits": row["credits"],
            "net": row["debits"] - row["credits"],
        },
        "created": _unix(row["created_at"]),
    }


def _to_entry(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"{ENTRY_PREFIX}{row['id']}",
        "object": "ledger_entry",
        "account": f"{ACCOUNT_PREFIX}{row['account_id']}",
        "journal": row["journal_id"],
        "journal_kind": row["journal_kind"],
        "payment_intent": row["payment_intent_id"],
        "direction": row["direction"],
        "amount": row["amount"],
        "currency": row["currency"],
        "entry_type": row["entry_type"],
        "created": _unix(row["created_at"]),
    }


def _cursor(query: ListQuery) -> tuple[str, str] | None:
    """(param, id) of the page cursor, if any; ending_before pages towards newer rows."""
    if query.ending_before is not None:
        return "ending_before", query.ending_before
    if query.starting_after is not None:
        return "starting_after", query.starting_after
    return None


async def _page(
    conn: psycopg.AsyncConnection,
    statement: sql.Composed,
    params: dict[str, object],
    query: ListQuery,
    to_object: Callable[[dict[str, Any]], dict[str, Any]],
) -> Page:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(statement, {**params, "limit": query.limit + 1})
    rows = await cur.fetchall()
    has_more = len(rows) > query.limit
    rows = rows[: query.limit]
    if query.ending_before is not None:
        rows.reverse()
    return Page([to_object(row) for row in rows], has_more)


def _order(query: ListQuery, column: str) -> tuple[sql.Composable, sql.Composable]:
    """The cursor condition and the order: newest first, or oldest first up to ending_before."""
    ident = sql.SQL(column)
    if query.ending_before is not None:
        return sql.SQL("{} > %(cursor)s").format(ident), sql.SQL("{} ASC").format(ident)
    return sql.SQL("{} < %(cursor)s").format(ident), sql.SQL("{} DESC").format(ident)


class PgBalances:
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    async def pending(self, merchant_id: str) -> dict[str, int]:
        cur = await self._conn.execute(
            """
            SELECT a.currency,
                   (coalesce(sum(b.credits - b.debits)
                             FILTER (WHERE split_part(a.code, ':', -1) = 'payable'), 0)
                    - coalesce(sum(b.debits - b.credits)
                               FILTER (WHERE split_part(a.code, ':', -1) = 'fees'), 0))::bigint
              FROM ledger_accounts a
              LEFT JOIN ledger_account_balances b ON b.account_id = a.id
             WHERE a.merchant_id = %s AND split_part(a.code, ':', -1) IN ('payable', 'fees')
             GROUP BY a.currency ORDER BY a.currency
            """,
            (merchant_id,),
        )
        return {currency: amount for currency, amount in await cur.fetchall()}

    async def accounts(self, merchant_id: str, query: ListQuery) -> Page:
        where: list[sql.Composable] = [sql.SQL("a.merchant_id = %(merchant_id)s")]
        params: dict[str, object] = {"merchant_id": merchant_id}
        if "currency" in query.filters:
            where.append(sql.SQL("a.currency = %(currency)s"))
            params["currency"] = query.filters["currency"]
        condition, order = _order(query, "a.id")
        cursor = _cursor(query)
        if cursor is not None:
            params["cursor"] = await self._account_id(merchant_id, *cursor)
            where.append(condition)
        statement = sql.SQL(
            """
            SELECT a.id, a.code, a.currency, a.created_at,
                   coalesce(sum(b.debits), 0)::bigint AS debits,
                   coalesce(sum(b.credits), 0)::bigint AS credits
              FROM ledger_accounts a
              LEFT JOIN ledger_account_balances b ON b.account_id = a.id
             WHERE {} GROUP BY a.id ORDER BY {} LIMIT %(limit)s
            """
        ).format(sql.SQL(" AND ").join(where), order)
        return await _page(self._conn, statement, params, query, _to_account)

    async def entries(self, merchant_id: str, account_id: str, query: ListQuery) -> Page:
        account = await self._account_id(merchant_id, "account", account_id)
        params: dict[str, object] = {"account": account}
        where: list[sql.Composable] = [sql.SQL("e.account_id = %(account)s")]
        condition, order = _order(query, "e.id")
        cursor = _cursor(query)
        if cursor is not None:
            params["cursor"] = await self._entry_id(account, *cursor)
            where.append(condition)
        statement = sql.SQL(
            """
            SELECT e.id, e.account_id, e.journal_id, j.kind AS journal_kind,
                   e.payment_intent_id, e.direction, e.amount, e.currency, e.entry_type,
                   e.created_at
              FROM ledger_entries e JOIN ledger_journals j ON j.id = e.journal_id
             WHERE {} ORDER BY {} LIMIT %(limit)s
            """
        ).format(sql.SQL(" AND ").join(where), order)
        return await _page(self._conn, statement, params, query, _to_entry)

    async def _account_id(self, merchant_id: str, param: str, external_id: str) -> int:
        """The merchant's own account behind an la_ id; another merchant's is as missing."""
        account_id = _internal_id(ACCOUNT_PREFIX, external_id)
        if account_id is not None:
            cur = await self._conn.execute(
                "SELECT 1 FROM ledger_accounts WHERE id = %s AND merchant_id = %s",
                (account_id, merchant_id),
            )
            if await cur.fetchone() is not None:
                return account_id
        raise ResourceMissing("ledger account", external_id, param=param)

    async def _entry_id(self, account_id: int, param: str, external_id: str) -> int:
        entry_id = _internal_id(ENTRY_PREFIX, external_id)
        if entry_id is not None:
            cur = await self._conn.execute(
                "SELECT 1 FROM ledger_entries WHERE id = %s AND account_id = %s",
                (entry_id, account_id),
            )
            if await cur.fetchone() is not None:
                return entry_id
        raise ResourceMissing("ledger entry", external_id, param=param)
