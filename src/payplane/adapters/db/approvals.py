"""approval_requests table <-> ApprovalRequest."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from payplane.adapters.db.listing import page
from payplane.domain.approval import ApprovalRequest, ApprovalStatus
from payplane.domain.errors import ResourceMissing
from payplane.services.ports import ListQuery, Page

_COLUMNS = (
    "id",
    "merchant_id",
    "action",
    "params",
    "status",
    "requested_by",
    "request_id",
    "created",
    "decided_by",
    "decided_at",
    "reason",
    "result",
    "error",
    "executed_at",
)
_INSERT = (
    f"INSERT INTO approval_requests ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join(f'%({c})s' for c in _COLUMNS)})"
)


def _params(request: ApprovalRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "merchant_id": request.merchant_id,
        "action": request.action,
        "params": Jsonb(request.params),
        "status": request.status.value,
        "requested_by": request.requested_by,
        "request_id": request.request_id,
        "created": request.created,
        "decided_by": request.decided_by,
        "decided_at": request.decided_at,
        "reason": request.reason,
        "result": None if request.result is None else Jsonb(request.result),
        "error": None if request.error is None else Jsonb(request.error),
        "executed_at": request.executed_at,
    }


def to_approval_request(row: dict[str, Any]) -> ApprovalRequest:
    return ApprovalRequest(
        **{column: row[column] for column in _COLUMNS if column != "status"},
        status=ApprovalStatus(row["status"]),
    )


class PgApprovalRequests:
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    async def add(self, request: ApprovalRequest) -> None:
        await self._conn.execute(_INSERT, _params(request))

    async def get(
        self, merchant_id: str, approval_id: str, *, lock: bool = False
    ) -> ApprovalRequest:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT * FROM approval_requests WHERE id = %s AND merchant_id = %s"
            + (" FOR UPDATE" if lock else ""),
            (approval_id, merchant_id),
        )
        row = await cur.fetchone()
        if row is None:
            raise ResourceMissing("approval request", approval_id)
        return to_approval_request(row)

    async def save(self, request: ApprovalRequest) -> None:
        await self._conn.execute(
            "UPDATE approval_requests SET status = %(status)s, decided_by = %(decided_by)s, "
            "decided_at = %(decided_at)s, reason = %(reason)s, result = %(result)s, "
            "error = %(error)s, executed_at = %(executed_at)s WHERE id = %(id)s",
            _params(request),
        )

    async def list(self, merchant_id: str, query: ListQuery) -> Page:
        return await page(
            self._conn,
            table="approval_requests",
            resource="approval request",
            merchant_id=merchant_id,
            query=query,
            to_object=lambda row: to_approval_request(row).as_stripe_object(),
        )
