"""Authorization: every /v1 route declares the one permission it needs, as
`Depends(permission("refunds", "write"))`; domain/access.py's tables decide who holds it.

A refusal is Stripe's answer to a restricted key lacking a permission (403,
invalid_request_error, a message naming the permission) and is recorded in the audit trail.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from payplane.domain.access import Permission, Principal, denial_message
from payplane.domain.errors import PermissionDenied
from payplane.services.access import record_denial
from payplane.services.ports import RequestContext

DENIED = "permission_denied"


def permission(resource: str, level: str) -> Callable[[Request], Awaitable[Principal]]:
    needed = Permission(resource, level)  # a misspelt permission fails at import

    async def authorized(request: Request) -> Principal:
        principal: Principal = await request.app.state.authenticate(request)
        if principal.allows(needed):
            return principal
        reason = denial_message(principal, needed)
        ctx = RequestContext(principal.merchant_id, principal.actor, request.state.request_id)
        await record_denial(
            request.app.state.container.uow,
            ctx,
            needed,
            reason,
            method=request.method,
            path=request.url.path,
        )
        raise PermissionDenied(reason, code=DENIED)

    return authorized
