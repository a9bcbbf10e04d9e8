"""payment_intents table <-> PaymentIntent aggregate."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from payplane.adapters.db.listing import page
from payplane.domain.errors import ResourceMissing
from payplane.domain.payment_intent import CaptureMethod, PaymentError, PaymentIntent, Status
from payplane.services.ports import ListQuery, Page

_COLUMNS = (
    "id",
    "merchant_id",
    "amount",
    "currency",
    "status",
    "capture_method",
    "payment_method",
    "customer",
    "description",
    "metadata",
    "last_payment_error",
    "amount_capturable",
    "amount_received",
    "amount_refunded",
    "capture_before",
    "latest_charge",
    "connector",
    "created",
    "canceled_at",
    "cancellation_reason",
    "livemode",
    "payment_method_types",
    "client_secret",
    "return_url",
    "next_action",
)
_INSERT = (
    f"INSERT INTO payment_intents ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join(f'%({c})s' for c in _COLUMNS)})"
)
_UPDATE = (
    "UPDATE payment_intents SET "
    + ", ".join(f"{c} = %({c})s" for c in _COLUMNS if c not in ("id", "merchant_id", "created"))
    + ", updated_at = now() WHERE id = %(id)s"
)


def _params(intent: PaymentIntent) -> dict[str, Any]:
    error = intent.last_payment_error
    return {
        "id": intent.id,
        "merchant_id": intent.merchant_id,
        "amount": intent.amount,
        "currency": intent.currency,
        "status": intent.status.value,
        "capture_method": intent.capture_method.value,
        "payment_method": intent.payment_method,
        "customer": intent.customer,
        "description": intent.description,
        "metadata": Jsonb(intent.metadata),
        "last_payment_error": Jsonb(error.as_dict()) if error else None,
        "amount_capturable": intent.amount_capturable,
        "amount_received": intent.amount_received,
        "amount_refunded": intent.amount_refunded,
        "capture_before": intent.capture_before,
        "latest_charge": intent.latest_charge,
        "connector": intent.connector,
        "created": intent.created,
        "canceled_at": intent.canceled_at,
        "cancellation_reason": intent.cancellation_reason,
        "livemode": intent.livemode,
        "payment_method_types": intent.payment_method_types,
        "client_secret": intent.client_secret,
        "return_url": intent.return_url,
        "next_action": Jsonb(intent.next_action) if intent.next_action is not None else None,
    }


def to_intent(row: dict[str, Any]) -> PaymentIntent:
    error = row["last_payment_error"]
    return PaymentIntent(
        id=row["id"],
        merchant_id=row["merchant_id"],
        amount=row["amount"],
        currency=row["currency"],
        status=Status(row["status"]),
        capture_method=CaptureMethod(row["capture_method"]),
        created=row["created"],
        payment_method=row["payment_method"],
        customer=row["customer"],
        description=row["description"],
        metadata=row["metadata"],
        last_payment_error=(
            PaymentError(
                type=error["type"],
                code=error["code"],
                message=error["message"],
                decline_code=error.get("decline_code"),
                payment_method=(error.get("payment_method") or {}).get("id"),
                payment_method_type=(error.get("payment_method") or {}).get("type"),
            )
            if error
            else None
        ),
        amount_capturable=row["amount_capturable"],
        amount_received=row["amount_received"],
        amount_refunded=row["amount_refunded"],
        capture_before=row["capture_before"],
        latest_charge=row["latest_charge"],
        canceled_at=row["canceled_at"],
        cancellation_reason=row["cancellation_reason"],
        livemode=row["livemode"],
        payment_method_types=list(row["payment_method_types"]),
        client_secret=row["client_secret"],
        return_url=row["return_url"],
        next_action=row["next_action"],
        connector=row["connector"],
    )


class PgPaymentIntents:
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    async def add(self, intent: PaymentIntent) -> None:
        await self._conn.execute(_INSERT, _params(intent))

    async def get(
        self, merchant_id: str | None, intent_id: str, *, lock: bool = False
    ) -> PaymentIntent:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT * FROM payment_intents "
            "WHERE id = %s AND merchant_id = coalesce(%s, merchant_id)"
            + (" FOR UPDATE" if lock else ""),
            (intent_id, merchant_id),
        )
        row = await cur.fetchone()
        if row is None:
            raise ResourceMissing("payment_intent", intent_id, param="intent")
        return to_intent(row)

    async def save(self, intent: PaymentIntent) -> None:
        await self._conn.execute(_UPDATE, _params(intent))

    async def expiring(self, *, now: int, limit: int) -> list[PaymentIntent]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT * FROM payment_intents WHERE status = 'requires_capture' "
            "AND capture_before <= %s ORDER BY capture_before LIMIT %s FOR UPDATE SKIP LOCKED",
            (now, limit),
        )
        return [to_intent(row) for row in await cur.fetchall()]

    async def list(self, merchant_id: str, query: ListQuery) -> Page:
        return await page(
            self._conn,
            table="payment_intents",
            resource="payment_intent",
            merchant_id=merchant_id,
            query=query,
            to_object=lambda row: to_intent(row).as_stripe_object(),
        )
