"""/v1/approval_requests: maker-checker. Actions held for approval (large refunds by operators
or restricted keys) are listed here and approved or denied by another operator with the
operations role. Both decisions are idempotent: repeating one returns the request as it is."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from payplane.api.access import permission
from payplane.api.context import list_object, list_query, read_call, respond
from payplane.api.errors import parse, stripe_json
from payplane.api.schemas import ListParams, StripeParams
from payplane.domain.access import Principal
from payplane.services.approvals import ApprovalService

PATH = "/v1/approval_requests"
router = APIRouter(prefix=PATH, tags=["approval_requests"])
Reader = Annotated[Principal, Depends(permission("approval_requests", "read"))]
Decider = Annotated[Principal, Depends(permission("approval_requests", "write"))]


class ListApprovalRequests(ListParams):
    status: Literal["pending", "approved", "denied"] | None = None


class DenyApprovalRequest(StripeParams):
    reason: Annotated[str, Field(max_length=500)] | None = None


async def _service(request: Request) -> ApprovalService:
    service: ApprovalService = request.app.state.container.approvals
    return service


Service = Annotated[ApprovalService, Depends(_service)]


@router.get("")
async def list_requests(request: Request, principal: Reader, service: Service) -> Any:
    call = await read_call(request, principal)
    p = parse(ListApprovalRequests, call.params)
    query = list_query(p.limit, p.starting_after, p.ending_before, p.created, {"status": p.status})
    return list_object(await service.list(call.ctx, query), PATH)


@router.get("/{approval_id}")
async def retrieve(approval_id: str, request: Request, principal: Reader, service: Service) -> Any:
    call = await read_call(request, principal)
    return stripe_json(200, await service.retrieve(call.ctx, approval_id))


@router.post("/{approval_id}/approve")
async def approve(approval_id: str, request: Request, principal: Decider, service: Service) -> Any:
    call = await read_call(request, principal)
    parse(StripeParams, call.params)
    return respond(await service.approve(call.ctx, approval_id))


@router.post("/{approval_id}/deny")
async def deny(approval_id: str, request: Request, principal: Decider, service: Service) -> Any:
    call = await read_call(request, principal)
    p = parse(DenyApprovalRequest, call.params)
    return respond(await service.deny(call.ctx, approval_id, p.reason))
