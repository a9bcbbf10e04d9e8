"""/v1/refunds: Stripe's Refunds API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from payplane.api.access import permission
from payplane.api.context import list_object, list_query, read_call, respond
from payplane.api.errors import parse, stripe_json
from payplane.api.schemas import CancelRefund, CreateRefund, ListRefunds, UpdateRefund
from payplane.domain.access import Principal
from payplane.services.refunds import RefundParams, RefundService

router = APIRouter(prefix="/v1/refunds", tags=["refunds"])
Reader = Annotated[Principal, Depends(permission("refunds", "read"))]
Writer = Annotated[Principal, Depends(permission("refunds", "write"))]


async def _service(request: Request) -> RefundService:
    service: RefundService = request.app.state.refunds
    return service


Service = Annotated[RefundService, Depends(_service)]


@router.post("")
async def create(request: Request, principal: Writer, service: Service) -> Any:
    call = await read_call(request, principal)
    p = parse(CreateRefund, call.params)
    params = RefundParams(
        payment_intent=p.payment_intent,
        amount=p.amount,
        currency=p.currency,
        reason=p.reason,
        metadata=p.metadata or {},
    )
    # Operators and restricted keys need a second operator's approval for large refunds.
    maker_checker = principal.subject_to_approval
    return respond(await service.create(call.ctx, call.shape, params, maker_checker=maker_checker))


@router.get("")
async def list_refunds(request: Request, principal: Reader, service: Service) -> Any:
    call = await read_call(request, principal)
    p = parse(ListRefunds, call.params)
    query = list_query(
        p.limit,
        p.starting_after,
        p.ending_before,
        p.created,
        {"payment_intent_id": p.payment_intent},
    )
    return list_object(await service.list(call.ctx, query), "/v1/refunds")


@router.get("/{refund_id}")
async def retrieve(refund_id: str, request: Request, principal: Reader, service: Service) -> Any:
    call = await read_call(request, principal)
    return stripe_json(200, await service.retrieve(call.ctx, refund_id))


@router.post("/{refund_id}")
async def update(refund_id: str, request: Request, principal: Writer, service: Service) -> Any:
    call = await read_call(request, principal)
    p = parse(UpdateRefund, call.params)
    metadata = p.metadata if isinstance(p.metadata, dict) else {}
    return respond(await service.update(call.ctx, call.shape, refund_id, metadata))


@router.post("/{refund_id}/cancel")
async def cancel(refund_id: str, request: Request, principal: Writer, service: Service) -> Any:
    call = await read_call(request, principal)
    parse(CancelRefund, call.params)
    return respond(await service.cancel(call.ctx, call.shape, refund_id))
