"""audit_log: who did what, why, under which request and key; append-only in the database and
hash-chained by the sealer (audit_chain.py)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from payplane.services.ports import RequestContext


class PgAuditTrail:
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    async def record(
        self,
        ctx: RequestContext,
        action: str,
        *,
        object_type: str | None = None,
        object_id: str | None = None,
        before: str | None = None,
        after: str | None = None,
        detail: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        await self._conn.execute(
            "INSERT INTO audit_log (merchant_id, actor, request_id, idempotency_key, action, "
            "object_type, object_id, before_status, after_status, detail, reason) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                ctx.merchant_id,
                ctx.actor,
                ctx.request_id,
                ctx.idempotency_key,
                action,
                object_type,
                object_id,
                before,
                after,
                Jsonb(detail or {}),
                reason,
            ),
        )

    async def for_object(self, object_id: str) -> list[dict[str, Any]]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT at, actor, request_id, idempotency_key, action, before_status, after_status, "
            "detail, reason FROM audit_log WHERE object_id = %s ORDER BY id",
            (object_id,),
        )
        return await cur.fetchall()
