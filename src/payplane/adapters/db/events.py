"""The outbox: Stripe events, inserted in the same transaction as the change they describe."""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from payplane.adapters.db.listing import page
from payplane.domain import pan
from payplane.domain.errors import ResourceMissing
from payplane.domain.ids import new_id
from payplane.services.ports import ListQuery, Page, RequestContext

API_VERSION = "2024-06-20"


def to_event(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "event",
        "api_version": API_VERSION,
        "created": row["created"],
        "data": {"object": row["data"]},
        "livemode": False,
        "pending_webhooks": 0,
        "request": {"id": row["request_id"], "idempotency_key": row["idempotency_key"]},
        "type": row["type"],
    }


class PgOutbox:
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    async def append(
        self,
        ctx: RequestContext,
        event_type: str,
        data: dict[str, Any],
        *,
        payment_intent_id: str | None,
    ) -> None:
        await self._conn.execute(
            "INSERT INTO events (id, merchant_id, type, object_id, payment_intent_id, data, "
            "request_id, idempotency_key, created) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                new_id("evt"),
                ctx.merchant_id,
                event_type,
                data["id"],
                payment_intent_id,
                # The API refuses card numbers; masking here keeps any that slipped through
                # (a PSP's text, a future field) off NATS and merchant webhooks.
                Jsonb(pan.redact_values(data)),
                ctx.request_id,
                ctx.idempotency_key and pan.redact(ctx.idempotency_key),
                int(time.time()),
            ),
        )

    async def get(self, merchant_id: str, event_id: str) -> dict[str, Any]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT * FROM events WHERE id = %s AND merchant_id = %s", (event_id, merchant_id)
        )
        row = await cur.fetchone()
        if row is None:
            raise ResourceMissing("event", event_id)
        return to_event(row)

    async def for_payment(self, intent_id: str) -> list[dict[str, Any]]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT * FROM events WHERE payment_intent_id = %s ORDER BY seq", (intent_id,)
        )
        return [to_event(row) for row in await cur.fetchall()]

    async def list(self, merchant_id: str, query: ListQuery) -> Page:
        return await page(
            self._conn,
            table="events",
            resource="event",
            merchant_id=merchant_id,
            query=query,
            to_object=to_event,
        )
