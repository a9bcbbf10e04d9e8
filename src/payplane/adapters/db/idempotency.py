"""idempotency_keys: per-merchant keys with the request fingerprint, a lease and the response."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from payplane.services.ports import Claim, ClaimState, RequestContext


class PgIdempotencyKeys:
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    async def claim(
        self,
        ctx: RequestContext,
        *,
        method: str,
        path: str,
        fingerprint: str,
        lock_seconds: float,
    ) -> Claim:
        # A concurrent first use of the same key blocks on this INSERT until the other
        # transaction commits, then finds the row below - and its lease - as committed.
        cur = await self._conn.execute(
            "INSERT INTO idempotency_keys (merchant_id, key, method, path, fingerprint, "
            "request_id, locked_until) VALUES (%s, %s, %s, %s, %s, %s, "
            "now() + make_interval(secs => %s)) ON CONFLICT DO NOTHING RETURNING 1",
            (
                ctx.merchant_id,
                ctx.idempotency_key,
                method,
                path,
                fingerprint,
                ctx.request_id,
                lock_seconds,
            ),
        )
        if await cur.fetchone() is not None:
            return Claim(ClaimState.NEW)
        dict_cur = self._conn.cursor(row_factory=dict_row)
        await dict_cur.execute(
            "SELECT *, coalesce(locked_until > now(), false) AS locked FROM idempotency_keys "
            "WHERE merchant_id = %s AND key = %s FOR UPDATE",
            (ctx.merchant_id, ctx.idempotency_key),
        )
        row = await dict_cur.fetchone()
        assert row is not None, "keys are never deleted while they are being claimed"
        if (row["method"], row["path"], row["fingerprint"]) != (method, path, fingerprint):
            return Claim(ClaimState.MISMATCH)
        if row["response_status"] is not None:
            return Claim(
                ClaimState.REPLAY,
                row["recovery_point"],
                row["attempt_id"],
                row["response_status"],
                row["response_body"],
            )
        if row["locked"]:
            return Claim(ClaimState.IN_USE)
        await self._conn.execute(
            "UPDATE idempotency_keys SET locked_until = now() + make_interval(secs => %s) "
            "WHERE merchant_id = %s AND key = %s",
            (lock_seconds, ctx.merchant_id, ctx.idempotency_key),
        )
        return Claim(ClaimState.RESUME, row["recovery_point"], row["attempt_id"])

    async def checkpoint(self, ctx: RequestContext, point: str, attempt_id: str) -> None:
        await self._conn.execute(
            "UPDATE idempotency_keys SET recovery_point = %s, attempt_id = %s "
            "WHERE merchant_id = %s AND key = %s",
            (point, attempt_id, ctx.merchant_id, ctx.idempotency_key),
        )

    async def finish(self, ctx: RequestContext, status: int, body: dict[str, Any]) -> None:
        await self._conn.execute(
            "UPDATE idempotency_keys SET recovery_point = 'finished', locked_until = NULL, "
            "response_status = %s, response_body = %s WHERE merchant_id = %s AND key = %s",
            (status, Jsonb(body), ctx.merchant_id, ctx.idempotency_key),
        )

    async def release(self, ctx: RequestContext) -> None:
        await self._conn.execute(
            "UPDATE idempotency_keys SET locked_until = NULL WHERE merchant_id = %s AND key = %s",
            (ctx.merchant_id, ctx.idempotency_key),
        )

    async def purge(self, *, older_than_days: int, limit: int) -> int:
        cur = await self._conn.execute(
            "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY("
            "SELECT ctid FROM idempotency_keys "
            "WHERE created_at < now() - make_interval(days => %s) LIMIT %s))",
            (older_than_days, limit),
        )
        return cur.rowcount
