"""Stripe's cursor pagination (limit, starting_after, ending_before, created[...]) over a table
with (merchant_id, seq, id, created) columns, newest first. merchant_id None lists across
merchants (operator views; such tables need no merchant_id column)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from payplane.domain.errors import ResourceMissing
from payplane.services.ports import ListQuery, Page

_CREATED_OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


async def page(
    conn: psycopg.AsyncConnection,
    *,
    table: str,
    resource: str,
    merchant_id: str | None,
    query: ListQuery,
    to_object: Callable[[dict[str, Any]], dict[str, Any]],
) -> Page:
    where: list[sql.Composable] = [sql.SQL("TRUE")]
    params: dict[str, object] = {"merchant_id": merchant_id, "limit": query.limit + 1}
    if merchant_id is not None:
        where.append(sql.SQL("merchant_id = %(merchant_id)s"))
    for op, value in query.created.items():
        where.append(sql.SQL("created {} %({})s").format(sql.SQL(_CREATED_OPS[op]), sql.SQL(op)))
        params[op] = value
    for column, text in query.filters.items():
        where.append(sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column)))
        params[column] = text
    ascending = query.ending_before is not None
    cursor_id = query.ending_before or query.starting_after
    if cursor_id is not None:
        params["cursor"] = await _cursor_seq(conn, table, resource, merchant_id, cursor_id, query)
        where.append(sql.SQL("seq > %(cursor)s" if ascending else "seq < %(cursor)s"))
    statement = sql.SQL("SELECT * FROM {} WHERE {} ORDER BY seq {} LIMIT %(limit)s").format(
        sql.Identifier(table), sql.SQL(" AND ").join(where), sql.SQL("ASC" if ascending else "DESC")
    )
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(statement, params)
    rows = await cur.fetchall()
    has_more = len(rows) > query.limit
    rows = rows[: query.limit]
    if ascending:
        rows.reverse()
    return Page([to_object(row) for row in rows], has_more)


async def _cursor_seq(
    conn: psycopg.AsyncConnection,
    table: str,
    resource: str,
    merchant_id: str | None,
    object_id: str,
    query: ListQuery,
) -> int:
    cur = await conn.execute(
        sql.SQL("SELECT seq FROM {} WHERE id = %s AND {}").format(
            sql.Identifier(table),
            sql.SQL("TRUE" if merchant_id is None else "merchant_id = %s"),
        ),
        (object_id,) if merchant_id is None else (object_id, merchant_id),
    )
    row = await cur.fetchone()
    if row is None:
        param = "ending_before" if query.ending_before else "starting_after"
        raise ResourceMissing(resource, object_id, param=param)
    seq: int = row[0]
    return seq
