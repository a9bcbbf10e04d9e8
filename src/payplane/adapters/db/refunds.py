"""refunds table <-> Refund."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from payplane.adapters.db.listing import page
from payplane.domain.errors import ResourceMissing
from payplane.domain.refund import Refund, RefundStatus
from payplane.services.ports import ListQuery, Page

_COLUMNS = (
    "id",
    "merchant_id",
    "payment_intent_id",
    "charge",
    "amount",
    "currency",
    "reason",
    "status",
    "failure_reason",
    "metadata",
    "connector",
    "psp_reference",
    "booked",
    "created",
)
_INSERT = (
    f"INSERT INTO refunds ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join(f'%({c})s' for c in _COLUMNS)})"
)


def _params(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "merchant_id": refund.merchant_id,
        "payment_intent_id": refund.payment_intent_id,
        "charge": refund.charge,
        "amount": refund.amount,
        "currency": refund.currency,
        "reason": refund.reason,
        "status": refund.status.value,
        "failure_reason": refund.failure_reason,
        "metadata": Jsonb(refund.metadata),
        "connector": refund.connector,
        "psp_reference": refund.psp_reference,
        "booked": refund.booked,
        "created": refund.created,
    }


def to_refund(row: dict[str, Any]) -> Refund:
    return Refund(
        id=row["id"],
        merchant_id=row["merchant_id"],
        payment_intent_id=row["payment_intent_id"],
        amount=row["amount"],
        currency=row["currency"],
        status=RefundStatus(row["status"]),
        connector=row["connector"],
        created=row["created"],
        charge=row["charge"],
        reason=row["reason"],
        failure_reason=row["failure_reason"],
        metadata=row["metadata"],
        psp_reference=row["psp_reference"],
        booked=row["booked"],
    )


class PgRefunds:
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    async def add(self, refund: Refund) -> None:
        await self._conn.execute(_INSERT, _params(refund))

    async def get(self, merchant_id: str | None, refund_id: str, *, lock: bool = False) -> Refund:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT * FROM refunds WHERE id = %s AND merchant_id = coalesce(%s, merchant_id)"
            + (" FOR UPDATE" if lock else ""),
            (refund_id, merchant_id),
        )
        row = await cur.fetchone()
        if row is None:
            raise ResourceMissing("refund", refund_id, param="refund")
        return to_refund(row)

    async def save(self, refund: Refund) -> None:
        await self._conn.execute(
            "UPDATE refunds SET status = %(status)s, failure_reason = %(failure_reason)s, "
            "metadata = %(metadata)s, psp_reference = %(psp_reference)s, booked = %(booked)s, "
            "updated_at = now() WHERE id = %(id)s",
            _params(refund),
        )

    async def for_intent(self, intent_id: str) -> list[Refund]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT * FROM refunds WHERE payment_intent_id = %s ORDER BY seq", (intent_id,)
        )
        return [to_refund(row) for row in await cur.fetchall()]

    async def pending_due(self, *, limit: int) -> list[Refund]:
        # Only refunds the PSP has accepted (it knows them by reference) and that no PSP call
        # is working on; claimed by pushing next_check_at out with capped exponential backoff.
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            """
            WITH picked AS (
                SELECT r.id FROM refunds r
                 WHERE r.status = 'pending' AND r.psp_reference IS NOT NULL
                   AND r.next_check_at <= now()
                   AND NOT EXISTS (SELECT 1 FROM payment_attempts a WHERE a.refund_id = r.id
                                   AND a.status IN ('pending', 'unknown'))
                 ORDER BY r.next_check_at LIMIT %s
                 FOR UPDATE OF r SKIP LOCKED
            )
            UPDATE refunds r
               SET checks = r.checks + 1,
                   next_check_at = now()
                       + make_interval(secs => least(600, 2 ^ least(r.checks, 10)))
              FROM picked WHERE r.id = picked.id
            RETURNING r.*
            """,
            (limit,),
        )
        return [to_refund(row) for row in await cur.fetchall()]

    async def list(self, merchant_id: str, query: ListQuery) -> Page:
        return await page(
            self._conn,
            table="refunds",
            resource="refund",
            merchant_id=merchant_id,
            query=query,
            to_object=lambda row: to_refund(row).as_stripe_object(),
        )
