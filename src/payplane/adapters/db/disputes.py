"""disputes table <-> Dispute, and psp_cursors (where each PSP feed was last read up to)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from payplane.adapters.db.listing import page
from payplane.domain.dispute import Dispute, DisputeStatus
from payplane.domain.errors import ResourceMissing
from payplane.services.ports import ListQuery, Page

_COLUMNS = (
    "id",
    "merchant_id",
    "payment_intent_id",
    "charge",
    "amount",
    "currency",
    "fee",
    "reason",
    "status",
    "evidence",
    "submission_count",
    "evidence_due_by",
    "metadata",
    "connector",
    "psp_dispute_id",
    "psp_change_seq",
    "funds_withdrawn",
    "created",
)
_INSERT = (
    f"INSERT INTO disputes ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join(f'%({c})s' for c in _COLUMNS)})"
)
# What a dispute can change after it was opened; who it belongs to and where it came from never do.
_MUTABLE = (
    "fee",
    "status",
    "evidence",
    "submission_count",
    "evidence_due_by",
    "metadata",
    "psp_change_seq",
    "funds_withdrawn",
)
_UPDATE = (
    "UPDATE disputes SET "
    + ", ".join(f"{c} = %({c})s" for c in _MUTABLE)
    + ", updated_at = now() WHERE id = %(id)s"
)


def _params(dispute: Dispute) -> dict[str, Any]:
    return {
        "id": dispute.id,
        "merchant_id": dispute.merchant_id,
        "payment_intent_id": dispute.payment_intent_id,
        "charge": dispute.charge,
        "amount": dispute.amount,
        "currency": dispute.currency,
        "fee": dispute.fee,
        "reason": dispute.reason,
        "status": dispute.status.value,
        "evidence": Jsonb(dispute.evidence),
        "submission_count": dispute.submission_count,
        "evidence_due_by": dispute.evidence_due_by,
        "metadata": Jsonb(dispute.metadata),
        "connector": dispute.connector,
        "psp_dispute_id": dispute.psp_dispute_id,
        "psp_change_seq": dispute.psp_change_seq,
        "funds_withdrawn": dispute.funds_withdrawn,
        "created": dispute.created,
    }


def to_dispute(row: dict[str, Any]) -> Dispute:
    return Dispute(
        id=row["id"],
        merchant_id=row["merchant_id"],
        payment_intent_id=row["payment_intent_id"],
        amount=row["amount"],
        currency=row["currency"],
        reason=row["reason"],
        status=DisputeStatus(row["status"]),
        connector=row["connector"],
        psp_dispute_id=row["psp_dispute_id"],
        psp_change_seq=row["psp_change_seq"],
        created=row["created"],
        charge=row["charge"],
        fee=row["fee"],
        evidence=row["evidence"],
        submission_count=row["submission_count"],
        evidence_due_by=row["evidence_due_by"],
        metadata=row["metadata"],
        funds_withdrawn=row["funds_withdrawn"],
    )


class PgDisputes:
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    async def add(self, dispute: Dispute) -> None:
        await self._conn.execute(_INSERT, _params(dispute))

    async def get(self, merchant_id: str, dispute_id: str, *, lock: bool = False) -> Dispute:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT * FROM disputes WHERE id = %s AND merchant_id = %s"
            + (" FOR UPDATE" if lock else ""),
            (dispute_id, merchant_id),
        )
        row = await cur.fetchone()
        if row is None:
            raise ResourceMissing("dispute", dispute_id, param="dispute")
        return to_dispute(row)

    async def find_by_psp_id(
        self, connector: str, psp_dispute_id: str, *, lock: bool = False
    ) -> Dispute | None:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT * FROM disputes WHERE connector = %s AND psp_dispute_id = %s"
            + (" FOR UPDATE" if lock else ""),
            (connector, psp_dispute_id),
        )
        row = await cur.fetchone()
        return None if row is None else to_dispute(row)

    async def save(self, dispute: Dispute) -> None:
        await self._conn.execute(_UPDATE, _params(dispute))

    async def list(self, merchant_id: str, query: ListQuery) -> Page:
        return await page(
            self._conn,
            table="disputes",
            resource="dispute",
            merchant_id=merchant_id,
            query=query,
            to_object=lambda row: to_dispute(row).as_stripe_object(),
        )


class PgCursors:
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    async def get(self, connector: str, feed: str) -> int:
        cur = await self._conn.execute(
            "SELECT position FROM psp_cursors WHERE connector = %s AND feed = %s",
            (connector, feed),
        )
        row = await cur.fetchone()
        return 0 if row is None else int(row[0])

    async def advance(self, connector: str, feed: str, position: int) -> None:
        # Only ever forwards: a slower reader of the same feed must not move it back.
        await self._conn.execute(
            "INSERT INTO psp_cursors AS c (connector, feed, position) VALUES (%s, %s, %s) "
            "ON CONFLICT (connector, feed) DO UPDATE "
            "SET position = greatest(c.position, EXCLUDED.position)",
            (connector, feed, position),
        )
