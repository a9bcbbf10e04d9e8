"""Maker-checker use cases: open an approval request, approve it (running the action once), deny.

An approved action runs through its normal use case under an idempotency key derived from the
request's id, so approving twice, concurrently or after a crash, runs it once: the second run
replays the first one's response, or resumes it if it died half-way. A final outcome (the
action's object, or an error such as the refund no longer fitting) is kept on the request; a
transient one (the PSP did not answer) is returned as is and the next approve resumes.

Actions plug in by name (domain/approval.py): "refund.create" is the refund use case; the
remediation write-off registers its own under "remediation.write_off" the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from payplane.domain.approval import ApprovalRequest, ApprovalStatus
from payplane.domain.errors import IdempotencyKeyInUse, PayplaneError
from payplane.domain.ids import new_id
from payplane.services.idempotency import RequestShape
from payplane.services.ports import ListQuery, Page, RequestContext, UnitOfWork
from payplane.services.responses import Response, error_body, fingerprint
from payplane.services.runner import AttemptRunner

# Idempotency keys Payplane uses itself; clients may not send keys with this prefix.
INTERNAL_KEY_PREFIX = "payplane:"

ApprovedAction = Callable[[RequestContext, RequestShape, dict[str, Any]], Awaitable[Response]]


async def open_request(
    uow: UnitOfWork, ctx: RequestContext, now: int, action: str, params: dict[str, Any]
) -> Response:
    """Hold `action` for approval instead of running it: 202 with the approval request."""
    request = ApprovalRequest(
        id=new_id("apr"),
        merchant_id=ctx.merchant_id,
        action=action,
        params=params,
        status=ApprovalStatus.PENDING,
        requested_by=ctx.actor,
        request_id=ctx.request_id,
        created=now,
    )
    await uow.approvals.add(request)
    await _audit(uow, ctx, "approval_request.create", request, action=action, params=params)
    return Response(202, request.as_stripe_object())


class ApprovalService:
    def __init__(self, runner: AttemptRunner, actions: Mapping[str, ApprovedAction]) -> None:
        self._uow = runner.uow
        self._clock = runner.clock
        self._actions = actions

    async def retrieve(self, ctx: RequestContext, approval_id: str) -> dict[str, Any]:
        async with self._uow() as uow:
            request = await uow.approvals.get(ctx.merchant_id, approval_id)
        return request.as_stripe_object()

    async def list(self, ctx: RequestContext, query: ListQuery) -> Page:
        async with self._uow() as uow:
            return await uow.approvals.list(ctx.merchant_id, query)

    async def approve(self, ctx: RequestContext, approval_id: str) -> Response:
        async with self._uow() as uow:
            request = await uow.approvals.get(ctx.merchant_id, approval_id, lock=True)
            if request.approve(ctx.actor, self._clock.now()):
                await uow.approvals.save(request)
                await _audit(uow, ctx, "approval_request.approve", request, action=request.action)
                await uow.commit()
        if request.executed:
            return Response(200, request.as_stripe_object())
        outcome = await self._run(ctx, request)
        if outcome.status >= 500 or outcome.status == IdempotencyKeyInUse.http_status:
            return outcome  # no answer yet: approving again resumes the same run
        async with self._uow() as uow:
            request = await uow.approvals.get(ctx.merchant_id, approval_id, lock=True)
            if not request.executed:
                failed = outcome.status >= 400
                request.record_outcome(
                    self._clock.now(),
                    result=None if failed else outcome.body,
                    error=outcome.body.get("error") if failed else None,
                )
                await uow.approvals.save(request)
                await _audit(
                    uow,
                    ctx,
                    "approval_request.execute",
                    request,
                    status=outcome.status,
                    result=outcome.body.get("id"),
                )
                await uow.commit()
        return Response(200, request.as_stripe_object())

    async def deny(self, ctx: RequestContext, approval_id: str, reason: str | None) -> Response:
        async with self._uow() as uow:
            request = await uow.approvals.get(ctx.merchant_id, approval_id, lock=True)
            if request.deny(ctx.actor, self._clock.now(), reason):
                await uow.approvals.save(request)
                await _audit(uow, ctx, "approval_request.deny", request, why=reason)
                await uow.commit()
        return Response(200, request.as_stripe_object())

    async def _run(self, ctx: RequestContext, request: ApprovalRequest) -> Response:
        path = f"/v1/approval_requests/{request.id}/approve"
        shape = RequestShape("POST", path, fingerprint("POST", path, request.params))
        run_ctx = replace(ctx, idempotency_key=f"{INTERNAL_KEY_PREFIX}approval:{request.id}")
        try:
            return await self._actions[request.action](run_ctx, shape, request.params)
        except PayplaneError as exc:
            return Response(exc.http_status, error_body(exc))


async def _audit(
    uow: UnitOfWork,
    ctx: RequestContext,
    event: str,
    request: ApprovalRequest,
    *,
    why: str | None = None,
    **detail: Any,
) -> None:
    await uow.audit.record(
        ctx,
        event,
        object_type="approval_request",
        object_id=request.id,
        after=request.status.value,
        detail=detail,
        reason=why,
    )
