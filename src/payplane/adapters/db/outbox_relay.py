"""The outbox relay's dedicated connection: leader lock, LISTEN, unpublished rows.

Not a pool connection: the advisory lock and the LISTEN belong to the session, so the session
must be the relay's alone and must end with it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, Self

import psycopg
from psycopg.rows import dict_row

from payplane.adapters.db.events import to_event
from payplane.adapters.db.pool import APP_ROLE
from payplane.services.relay import OutboxEvent

CHANNEL = "payplane_outbox"  # NOTIFYed by the events_notify trigger (migration 0003)
# Advisory lock keys share one namespace per database; this one is "pp-relay" in ASCII.
LEADER_LOCK_KEY = int.from_bytes(b"pp-relay", "big")
# A leader whose machine vanished without closing its socket must lose the lock in seconds, not
# after the kernel's two hours: the server probes the idle session and drops it.
_SESSION_SETTINGS = {
    "application_name": "payplane-outbox-relay",
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "10000",
}
_UNPUBLISHED = """
SELECT id, seq, merchant_id, type, payment_intent_id, data, created, request_id, idempotency_key
FROM events WHERE published_at IS NULL ORDER BY seq LIMIT %s
"""


class PgRelaySession:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    @classmethod
    async def connect(cls, database_url: str) -> Self:
        # Autocommit: the lock is session-level and NOTIFYs arrive only between transactions.
        conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
        try:
            await conn.execute(f"SET ROLE {APP_ROLE}")
            for name, value in _SESSION_SETTINGS.items():
                await conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        except BaseException:
            await conn.close()
            raise
        return cls(conn)

    async def try_lead(self) -> bool:
        cur = await self._conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK_KEY,))
        row = await cur.fetchone()
        if not (row and row[0]):
            return False
        # Only the leader listens: a follower would let notifications pile up unread.
        await self._conn.execute(f"LISTEN {CHANNEL}")
        return True

    async def wait_for_events(self, seconds: float) -> None:
        # Notifications that arrived during the last batch's queries come back at once.
        notifies = self._conn.notifies(timeout=seconds, stop_after=1)
        async with contextlib.aclosing(notifies):
            async for _ in notifies:
                pass

    async def unpublished(self, limit: int) -> list[OutboxEvent]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_UNPUBLISHED, (limit,))
        return [
            OutboxEvent(
                id=row["id"],
                seq=row["seq"],
                merchant_id=row["merchant_id"],
                type=row["type"],
                payment_intent_id=row["payment_intent_id"],
                body=to_event(row),
            )
            for row in await cur.fetchall()
        ]

    async def mark_published(self, event_ids: Sequence[str]) -> None:
        await self._conn.execute(
            "UPDATE events SET published_at = now() WHERE id = ANY(%s)", (list(event_ids),)
        )

    async def close(self) -> None:
        await self._conn.close()
