"""psp_inbox: PSP webhooks as received, deduplicated on (connector, PSP event id), and their
processing state (pending -> processed | parked, with tries and the next due time)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from payplane.services.inbox_ports import InboxEvent

_COLUMNS = ("id", "connector", "psp_event_id", "event_type", "raw_body", "attempts")
_FIELDS = ", ".join(_COLUMNS)


def _event(row: dict[str, Any]) -> InboxEvent:
    return InboxEvent(
        id=row["id"],
        connector=row["connector"],
        psp_event_id=row["psp_event_id"],
        event_type=row["event_type"],
        raw_body=bytes(row["raw_body"]),
        attempts=row["attempts"],
    )


class PgInbox:
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    async def add(
        self,
        connector: str,
        psp_event_id: str,
        event_type: str,
        raw_body: bytes,
        headers: Mapping[str, str],
    ) -> bool:
        cur = await self._conn.execute(
            "INSERT INTO psp_inbox (connector, psp_event_id, event_type, raw_body, headers) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (connector, psp_event_id) DO NOTHING",
            (connector, psp_event_id, event_type, raw_body, Jsonb(dict(headers))),
        )
        return cur.rowcount == 1

    async def claim_due(self, *, limit: int, lease_seconds: float) -> list[InboxEvent]:
        # The lease: pushing next_attempt_at out hides the rows from other processors until this
        # one finishes them (or dies, after which they come due again by themselves).
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            f"""
            WITH picked AS (
                SELECT id FROM psp_inbox
                 WHERE status = 'pending' AND next_attempt_at <= now()
                 ORDER BY next_attempt_at, id
                 LIMIT %(limit)s
                 FOR UPDATE SKIP LOCKED
            )
            UPDATE psp_inbox i
               SET next_attempt_at = now() + make_interval(secs => %(lease)s)
              FROM picked WHERE i.id = picked.id
            RETURNING {", ".join(f"i.{column}" for column in _COLUMNS)}
            """,
            {"limit": limit, "lease": lease_seconds},
        )
        rows = await cur.fetchall()
        return sorted((_event(row) for row in rows), key=lambda event: event.id)

    async def lock(self, inbox_id: int) -> InboxEvent | None:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            f"SELECT {_FIELDS} FROM psp_inbox WHERE id = %s AND status = 'pending' FOR UPDATE",
            (inbox_id,),
        )
        row = await cur.fetchone()
        return None if row is None else _event(row)

    async def mark_processed(self, inbox_id: int) -> None:
        await self._conn.execute(
            "UPDATE psp_inbox SET status = 'processed', processed_at = now(), last_error = NULL "
            "WHERE id = %s",
            (inbox_id,),
        )

    async def retry_later(self, inbox_id: int, *, delay_seconds: float, error: str) -> None:
        await self._conn.execute(
            "UPDATE psp_inbox SET attempts = attempts + 1, last_error = %s, "
            "next_attempt_at = now() + make_interval(secs => %s) "
            "WHERE id = %s AND status = 'pending'",
            (error, delay_seconds, inbox_id),
        )

    async def park(self, inbox_id: int, *, error: str) -> None:
        await self._conn.execute(
            "UPDATE psp_inbox SET status = 'parked', attempts = attempts + 1, last_error = %s "
            "WHERE id = %s AND status = 'pending'",
            (error, inbox_id),
        )
