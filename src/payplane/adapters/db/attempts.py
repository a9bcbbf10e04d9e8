"""payment_attempts: one row per PSP call, written before the call is made."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from payplane.domain.attempt import Attempt, AttemptKind, AttemptStatus
from payplane.services.ports import Waiting

_COLUMNS = (
    "id",
    "payment_intent_id",
    "merchant_id",
    "kind",
    "status",
    "connector",
    "psp_idempotency_key",
    "psp_reference",
    "charge_id",
    "amount",
    "currency",
    "payment_method",
    "capture",
    "reason",
    "error",
    "refund_id",
    "redirect_url",
    "return_url",
)
_INSERT = (
    f"INSERT INTO payment_attempts ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join(f'%({c})s' for c in _COLUMNS)})"
)


def _params(attempt: Attempt) -> dict[str, Any]:
    return {
        "id": attempt.id,
        "payment_intent_id": attempt.payment_intent_id,
        "merchant_id": attempt.merchant_id,
        "kind": attempt.kind.value,
        "status": attempt.status.value,
        "connector": attempt.connector,
        "psp_idempotency_key": attempt.psp_idempotency_key,
        "psp_reference": attempt.psp_reference,
        "charge_id": attempt.charge_id,
        "amount": attempt.amount,
        "currency": attempt.currency,
        "payment_method": attempt.payment_method,
        "capture": attempt.capture,
        "reason": attempt.reason,
        "error": Jsonb(attempt.error) if attempt.error is not None else None,
        "refund_id": attempt.refund_id,
        "redirect_url": attempt.redirect_url,
        "return_url": attempt.return_url,
    }


def to_attempt(row: dict[str, Any]) -> Attempt:
    return Attempt(
        id=row["id"],
        payment_intent_id=row["payment_intent_id"],
        merchant_id=row["merchant_id"],
        kind=AttemptKind(row["kind"]),
        status=AttemptStatus(row["status"]),
        connector=row["connector"],
        psp_idempotency_key=row["psp_idempotency_key"],
        amount=row["amount"],
        currency=row["currency"],
        payment_method=row["payment_method"],
        capture=row["capture"],
        reason=row["reason"],
        psp_reference=row["psp_reference"],
        charge_id=row["charge_id"],
        error=row["error"],
        refund_id=row["refund_id"],
        redirect_url=row["redirect_url"],
        return_url=row["return_url"],
    )


class PgAttempts:
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    async def add(self, attempt: Attempt) -> None:
        await self._conn.execute(_INSERT, _params(attempt))

    async def get(self, attempt_id: str, *, lock: bool = False) -> Attempt:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT * FROM payment_attempts WHERE id = %s" + (" FOR UPDATE" if lock else ""),
            (attempt_id,),
        )
        row = await cur.fetchone()
        if row is None:
            raise LookupError(f"attempt {attempt_id} does not exist")
        return to_attempt(row)

    async def save(self, attempt: Attempt) -> None:
        await self._conn.execute(
            # Entering a wait starts its follow-ups afresh: first status check in 5 seconds.
            "UPDATE payment_attempts SET status = %(status)s, psp_reference = %(psp_reference)s, "
            "error = %(error)s, redirect_url = %(redirect_url)s, updated_at = now(), "
            "checks = CASE WHEN status <> %(status)s THEN 0 ELSE checks END, "
            "next_check_at = CASE WHEN status <> %(status)s "
            "AND %(status)s IN ('requires_action', 'awaiting') "
            "THEN now() + interval '5 seconds' ELSE next_check_at END "
            "WHERE id = %(id)s",
            _params(attempt),
        )

    async def for_intent(self, intent_id: str) -> list[Attempt]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT * FROM payment_attempts WHERE payment_intent_id = %s ORDER BY created_at, id",
            (intent_id,),
        )
        return [to_attempt(row) for row in await cur.fetchall()]

    async def due(self, *, limit: int, min_age_seconds: float) -> list[Attempt]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_IN_DOUBT_DUE, {"min_age": min_age_seconds, "limit": limit})
        return [to_attempt(row) for row in await cur.fetchall()]

    async def waiting_due(self, *, limit: int, action_expiry_seconds: float) -> list[Waiting]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_WAITING_DUE, {"expiry": action_expiry_seconds, "limit": limit})
        return [Waiting(to_attempt(row), row["expired"]) for row in await cur.fetchall()]

    async def find_by_psp_key(self, connector: str, key: str) -> Attempt | None:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT * FROM payment_attempts WHERE psp_idempotency_key = %s AND connector = %s",
            (key, connector),
        )
        row = await cur.fetchone()
        return None if row is None else to_attempt(row)


def _claim(where: str, backoff: str, returning: str = "a.*") -> str:
    """Claim due attempts by pushing next_check_at out with backoff (capped at 10 minutes), so
    N workers share the work and a PSP that cannot answer is asked less and less."""
    return f"""
    WITH picked AS (
        SELECT id FROM payment_attempts WHERE {where}
         ORDER BY next_check_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
    )
    UPDATE payment_attempts a
       SET checks = a.checks + 1,
           next_check_at = now() + make_interval(secs => least(600, {backoff}))
      FROM picked WHERE a.id = picked.id
    RETURNING {returning}
    """


# Calls in doubt, for the resolver: old enough that no live request is still waiting on them.
_IN_DOUBT_DUE = _claim(
    "status IN ('pending', 'unknown') AND next_check_at <= now() "
    "AND updated_at <= now() - make_interval(secs => %(min_age)s)",
    "2 ^ least(a.checks, 10)",
)
# Attempts waiting on the customer or the PSP; a customer action past its expiry is due at once.
_WAITING_DUE = _claim(
    "status IN ('requires_action', 'awaiting') AND (next_check_at <= now() "
    "OR (status = 'requires_action' AND updated_at <= now() - make_interval(secs => %(expiry)s)))",
    "5 * 2 ^ least(a.checks, 7)",
    "a.*, (a.status = 'requires_action' "
    "AND a.updated_at <= now() - make_interval(secs => %(expiry)s)) AS expired",
)
