"""Refused requests, recorded: who tried what, why it was refused, under which request."""

from __future__ import annotations

from payplane.domain import pan
from payplane.domain.access import Permission
from payplane.services.ports import RequestContext, UnitOfWorkFactory


async def record_denial(
    uow_factory: UnitOfWorkFactory,
    ctx: RequestContext,
    permission: Permission,
    reason: str,
    *,
    method: str,
    path: str,
) -> None:
    """In its own transaction: the refused request changes nothing else. The request was
    refused before the card number guard looked at it, so its path is masked here."""
    async with uow_factory() as uow:
        await uow.audit.record(
            ctx,
            "access.denied",
            detail={"permission": str(permission), "method": method, "path": pan.redact(path)},
            reason=reason,
        )
        await uow.commit()
