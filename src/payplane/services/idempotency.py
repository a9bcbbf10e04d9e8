"""Idempotent execution in atomic phases with recovery points (after Brandur Leach's design).

A request with an Idempotency-Key claims the key in the same transaction as its first phase.
Phases that call a PSP commit an attempt row first and record it as the key's recovery point,
so a process killed anywhere resumes on retry: the same attempt is sent again under the same
PSP idempotency key, and the PSP answers with what it did the first time.
"""

from __future__ import annotations

from dataclasses import dataclass

from payplane.domain.errors import IdempotencyError, IdempotencyKeyInUse
from payplane.services.ports import (
    Claim,
    ClaimState,
    RequestContext,
    UnitOfWork,
    UnitOfWorkFactory,
)
from payplane.services.responses import Response

ATTEMPT_CREATED = "attempt_created"


@dataclass(frozen=True, slots=True)
class RequestShape:
    method: str
    path: str
    fingerprint: str


async def claim(
    uow: UnitOfWork, ctx: RequestContext, shape: RequestShape, lock_seconds: float
) -> Claim | None:
    """None when the request carries no key; raises for keys that cannot be used now."""
    if ctx.idempotency_key is None:
        return None
    result = await uow.idempotency.claim(
        ctx,
        method=shape.method,
        path=shape.path,
        fingerprint=shape.fingerprint,
        lock_seconds=lock_seconds,
    )
    if result.state is ClaimState.MISMATCH:
        raise IdempotencyError(
            "Keys for idempotent requests can only be used with the same parameters they were "
            f"first used with. Try using a key other than '{ctx.idempotency_key}' if you meant "
            "to execute a different request.",
            code="idempotency_key_reused",
        )
    if result.state is ClaimState.IN_USE:
        raise IdempotencyKeyInUse(
            "There is currently another in-progress request using this Idempotent Key (that "
            "probably means you submitted twice, and the other request is still going "
            f"through): {ctx.idempotency_key}. Please try again later.",
            code="idempotency_key_in_use",
        )
    return result


def replay(result: Claim) -> Response:
    assert result.response_status is not None
    assert result.response_body is not None
    return Response(result.response_status, result.response_body, replayed=True)


async def finish(uow: UnitOfWork, ctx: RequestContext, response: Response) -> None:
    if ctx.idempotency_key is not None:
        await uow.idempotency.finish(ctx, response.status, response.body)


async def purge_expired(uow_factory: UnitOfWorkFactory, *, retention_days: int, limit: int) -> int:
    """Forget keys older than the retention period (never shorter than 30 days, see config)."""
    async with uow_factory() as uow:
        purged = await uow.idempotency.purge(older_than_days=retention_days, limit=limit)
        await uow.commit()
    return purged
