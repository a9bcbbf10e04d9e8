"""webhook_deliveries and webhook_delivery_attempts: fan-out, claiming with a lease, outcomes."""

from __future__ import annotations

from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row

from payplane.adapters.db.events import to_event
from payplane.domain.errors import InvalidRequest, ResourceMissing
from payplane.services.ports import ListQuery, Page
from payplane.services.webhook_ports import DueDelivery, Outcome

DELIVERY_PREFIX = "whdel_"

# One row per (event, endpoint) that wants it: enabled, not deleted, subscribed to the type (or
# "*"), and already there when the event happened. Replays of the same event add nothing.
_FAN_OUT = """
INSERT INTO webhook_deliveries (event_id, endpoint_id, merchant_id)
SELECT ev.id, e.id, e.merchant_id
  FROM events ev
  JOIN webhook_endpoints e ON e.merchant_id = ev.merchant_id
 WHERE ev.id = ANY(%s)
   AND e.status = 'enabled' AND NOT e.deleted AND e.created <= ev.created
   AND (e.enabled_events ? '*' OR e.enabled_events ? ev.type)
 ORDER BY ev.seq, e.seq
ON CONFLICT (event_id, endpoint_id) DO NOTHING
"""

# Due deliveries to enabled endpoints, oldest due first, skipping rows another dispatcher holds
# and endpoints this one has no room for, at most `free` per endpoint; leased in the same statement.
_CLAIM = """
WITH room(endpoint_id, free) AS (
    SELECT * FROM unnest(%(room_ids)s::text[], %(room_free)s::int[])
), due AS (
    SELECT d.id, d.endpoint_id, d.next_attempt_at
      FROM webhook_deliveries d
     WHERE d.status = 'pending' AND d.next_attempt_at <= now()
       AND NOT (d.endpoint_id = ANY(%(full)s))
       AND EXISTS (SELECT 1 FROM webhook_endpoints e
                    WHERE e.id = d.endpoint_id AND e.status = 'enabled' AND NOT e.deleted)
     ORDER BY d.next_attempt_at
     LIMIT %(scan)s
       FOR UPDATE OF d SKIP LOCKED
), ranked AS (
    SELECT due.id, due.next_attempt_at, COALESCE(room.free, %(per_endpoint)s) AS free,
           row_number() OVER (PARTITION BY due.endpoint_id ORDER BY due.next_attempt_at, due.id)
      FROM due LEFT JOIN room USING (endpoint_id)
), chosen AS (
    SELECT id FROM ranked WHERE row_number <= free ORDER BY next_attempt_at LIMIT %(limit)s
)
UPDATE webhook_deliveries d
   SET next_attempt_at = now() + make_interval(secs => %(lease)s)
  FROM chosen, webhook_endpoints e, events ev
 WHERE d.id = chosen.id AND e.id = d.endpoint_id AND ev.id = d.event_id
RETURNING d.id, d.event_id, d.endpoint_id, d.merchant_id, d.attempts,
          extract(epoch FROM d.created_at)::float8 AS created_at, e.url, e.secret,
          ev.id AS ev_id, ev.type, ev.created, ev.data, ev.request_id, ev.idempotency_key
"""

# Attempts are stored whatever happened; only a still pending delivery moves on (one another
# dispatcher finished after this one's lease ran out stays as it is).
_RECORD = """
WITH o AS (
    SELECT * FROM unnest(%s::bigint[], %s::boolean[], %s::int[], %s::int[], %s::text[],
                         %s::float8[])
        AS o(id, succeeded, status_code, latency_ms, error, retry_in)
), attempts AS (
    INSERT INTO webhook_delivery_attempts (delivery_id, succeeded, status_code, latency_ms, error)
    SELECT id, succeeded, status_code, latency_ms, error FROM o
)
UPDATE webhook_deliveries d
   SET status = CASE WHEN o.succeeded THEN 'succeeded'
                     WHEN o.retry_in IS NULL THEN 'failed' ELSE 'pending' END,
       attempts = d.attempts + 1,
       last_attempt_at = now(),
       next_attempt_at = CASE WHEN o.retry_in IS NULL THEN d.next_attempt_at
                              ELSE now() + make_interval(secs => o.retry_in) END
  FROM o
 WHERE d.id = o.id AND d.status = 'pending'
RETURNING d.id, d.status
"""


def delivery_id(text: str) -> int | None:
    digits = text.removeprefix(DELIVERY_PREFIX)
    return int(digits) if text.startswith(DELIVERY_PREFIX) and digits.isdigit() else None


def _epoch(value: Any) -> int | None:
    return None if value is None else int(value.timestamp())


def to_delivery(row: dict[str, Any], attempts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": f"{DELIVERY_PREFIX}{row['id']}",
        "object": "webhook_delivery",
        "attempt_count": row["attempts"],
        "attempts": [
            {
                "attempted_at": _epoch(a["attempted_at"]),
                "error": a["error"],
                "latency_ms": a["latency_ms"],
                "status_code": a["status_code"],
                "succeeded": a["succeeded"],
            }
            for a in attempts
        ],
        "created": _epoch(row["created_at"]),
        "endpoint": row["endpoint_id"],
        "event": row["event_id"],
        "last_attempt_at": _epoch(row["last_attempt_at"]),
        "next_attempt_at": _epoch(row["next_attempt_at"]) if row["status"] == "pending" else None,
        "status": row["status"],
    }


class PgWebhookDeliveries:
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    async def fan_out(self, event_ids: list[str]) -> int:
        cur = await self._conn.execute(_FAN_OUT, (event_ids,))
        return max(cur.rowcount, 0)

    async def claim_due(
        self, *, limit: int, lease_seconds: float, room: dict[str, int], per_endpoint: int
    ) -> list[DueDelivery]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            _CLAIM,
            {
                "room_ids": list(room),
                "room_free": list(room.values()),
                "full": [endpoint for endpoint, free in room.items() if free <= 0],
                "per_endpoint": per_endpoint,
                "scan": max(4 * limit, 32),
                "limit": limit,
                "lease": lease_seconds,
            },
        )
        return [
            DueDelivery(
                id=row["id"],
                event_id=row["event_id"],
                endpoint_id=row["endpoint_id"],
                merchant_id=row["merchant_id"],
                url=row["url"],
                secret=row["secret"],
                attempts=row["attempts"],
                created_at=row["created_at"],
                body=orjson.dumps(to_event({**row, "id": row["ev_id"]})),
            )
            for row in await cur.fetchall()
        ]

    async def record(self, outcomes: list[Outcome]) -> list[int]:
        columns = (
            [o.delivery_id for o in outcomes],
            [o.result.succeeded for o in outcomes],
            [o.result.status_code for o in outcomes],
            [o.result.latency_ms for o in outcomes],
            [o.result.error for o in outcomes],
            [o.retry_in for o in outcomes],
        )
        cur = await self._conn.execute(_RECORD, columns)
        return [row_id for row_id, status in await cur.fetchall() if status == "failed"]

    async def succeeded_since(self, endpoint_id: str, since: float) -> bool:
        cur = await self._conn.execute(
            "SELECT EXISTS (SELECT 1 FROM webhook_deliveries d "
            "JOIN webhook_delivery_attempts a ON a.delivery_id = d.id "
            "WHERE d.endpoint_id = %(endpoint)s AND d.last_attempt_at >= to_timestamp(%(since)s) "
            "AND a.succeeded AND a.attempted_at >= to_timestamp(%(since)s))",
            {"endpoint": endpoint_id, "since": since},
        )
        row = await cur.fetchone()
        return bool(row and row[0])

    async def resend(self, merchant_id: str, endpoint_id: str, event_id: str) -> dict[str, Any]:
        await self._own_endpoint(merchant_id, endpoint_id, enabled=True)
        cur = await self._conn.execute(
            "SELECT 1 FROM events WHERE id = %s AND merchant_id = %s", (event_id, merchant_id)
        )
        if await cur.fetchone() is None:
            raise ResourceMissing("event", event_id, param="event")
        rows = self._conn.cursor(row_factory=dict_row)
        await rows.execute(
            "INSERT INTO webhook_deliveries (event_id, endpoint_id, merchant_id) "
            "VALUES (%s, %s, %s) ON CONFLICT (event_id, endpoint_id) DO UPDATE "
            "SET status = 'pending', attempts = 0, next_attempt_at = now(), created_at = now() "
            "RETURNING *",
            (event_id, endpoint_id, merchant_id),
        )
        row = await rows.fetchone()
        assert row is not None
        return to_delivery(row, await self._attempts([row["id"]]))

    async def deliveries(self, merchant_id: str, endpoint_id: str, query: ListQuery) -> Page:
        await self._own_endpoint(merchant_id, endpoint_id)
        params: dict[str, Any] = {"endpoint": endpoint_id, "limit": query.limit + 1}
        where = ["endpoint_id = %(endpoint)s"]
        if "event" in query.filters:
            where.append("event_id = %(event)s")
            params["event"] = query.filters["event"]
        cursor = query.ending_before or query.starting_after
        ascending = query.ending_before is not None
        if cursor is not None:
            params["cursor"] = delivery_id(cursor)
            if params["cursor"] is None:
                param = "ending_before" if ascending else "starting_after"
                raise ResourceMissing("webhook delivery", cursor, param=param)
            where.append("id > %(cursor)s" if ascending else "id < %(cursor)s")
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            f"SELECT * FROM webhook_deliveries WHERE {' AND '.join(where)} "
            f"ORDER BY id {'ASC' if ascending else 'DESC'} LIMIT %(limit)s",
            params,
        )
        rows = await cur.fetchall()
        has_more = len(rows) > query.limit
        rows = rows[: query.limit]
        if ascending:
            rows.reverse()
        attempts = await self._attempts([row["id"] for row in rows])
        by_delivery: dict[int, list[dict[str, Any]]] = {}
        for attempt in attempts:
            by_delivery.setdefault(attempt["delivery_id"], []).append(attempt)
        return Page([to_delivery(row, by_delivery.get(row["id"], [])) for row in rows], has_more)

    async def _attempts(self, delivery_ids: list[int]) -> list[dict[str, Any]]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT * FROM webhook_delivery_attempts WHERE delivery_id = ANY(%s) ORDER BY id",
            (delivery_ids,),
        )
        return await cur.fetchall()

    async def _own_endpoint(
        self, merchant_id: str, endpoint_id: str, *, enabled: bool = False
    ) -> None:
        """ResourceMissing unless the merchant has this endpoint; InvalidRequest if `enabled` is
        asked for and it is disabled (a resend would never go out)."""
        cur = await self._conn.execute(
            "SELECT status FROM webhook_endpoints WHERE id = %s AND merchant_id = %s "
            "AND NOT deleted",
            (endpoint_id, merchant_id),
        )
        row = await cur.fetchone()
        if row is None:
            raise ResourceMissing("webhook endpoint", endpoint_id)
        if enabled and row[0] != "enabled":
            raise InvalidRequest(
                f"Webhook endpoint {endpoint_id} is disabled; enable it before resending.",
                code="webhook_endpoint_disabled",
            )
