"""/v1/payment_intents: Stripe's PaymentIntents API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from payplane.api.access import permission
from payplane.api.context import list_object, list_query, read_call, respond
from payplane.api.errors import parse, stripe_json
from payplane.api.schemas import (
    CancelPaymentIntent,
    CapturePaymentIntent,
    ConfirmPaymentIntent,
    CreatePaymentIntent,
    ListPaymentIntents,
    UpdatePaymentIntent,
)
from payplane.domain.access import Principal
from payplane.services.payment_intents import CreateParams, PaymentIntentService

router = APIRouter(prefix="/v1/payment_intents", tags=["payment_intents"])
Reader = Annotated[Principal, Depends(permission("payment_intents", "read"))]
Capturer = Annotated[Principal, Depends(permission("payment_intents", "capture"))]
Writer = Annotated[Principal, Depends(permission("payment_intents", "write"))]


async def _service(request: Request) -> PaymentIntentService:
    service: PaymentIntentService = request.app.state.payment_intents
    return service


Service = Annotated[PaymentIntentService, Depends(_service)]


@router.post("")
async def create(request: Request, principal: Writer, service: Service) -> Any:
    call = await read_call(request, principal)
    p = parse(CreatePaymentIntent, call.params)
    params = CreateParams(
        amount=p.amount,
        currency=p.currency,
        capture_method=p.capture_method,
        confirm=p.confirm,
        payment_method=p.payment_method,
        payment_method_types=p.payment_method_types,
        return_url=p.return_url,
        customer=p.customer,
        description=p.description,
        metadata=p.metadata or {},
    )
    return respond(await service.create(call.ctx, call.shape, params))


@router.get("")
async def list_intents(request: Request, principal: Reader, service: Service) -> Any:
    call = await read_call(request, principal)
    p = parse(ListPaymentIntents, call.params)
    query = list_query(
        p.limit, p.starting_after, p.ending_before, p.created, {"customer": p.customer}
    )
    return list_object(await service.list(call.ctx, query), "/v1/payment_intents")


@router.get("/{intent_id}")
async def retrieve(intent_id: str, request: Request, principal: Reader, service: Service) -> Any:
    call = await read_call(request, principal)
    return stripe_json(200, await service.retrieve(call.ctx, intent_id))


@router.post("/{intent_id}")
async def update(intent_id: str, request: Request, principal: Writer, service: Service) -> Any:
    call = await read_call(request, principal)
    p = parse(UpdatePaymentIntent, call.params)
    changes = p.model_dump(exclude_unset=True, exclude={"expand"})
    if changes.get("metadata") == "":
        changes["metadata"] = None  # Stripe: an empty metadata value unsets every key
    return respond(await service.update(call.ctx, call.shape, intent_id, changes))


@router.post("/{intent_id}/confirm")
async def confirm(intent_id: str, request: Request, principal: Writer, service: Service) -> Any:
    call = await read_call(request, principal)
    p = parse(ConfirmPaymentIntent, call.params)
    return respond(
        await service.confirm(call.ctx, call.shape, intent_id, p.payment_method, p.return_url)
    )


@router.post("/{intent_id}/capture")
async def capture(intent_id: str, request: Request, principal: Capturer, service: Service) -> Any:
    call = await read_call(request, principal)
    p = parse(CapturePaymentIntent, call.params)
    return respond(await service.capture(call.ctx, call.shape, intent_id, p.amount_to_capture))


@router.post("/{intent_id}/cancel")
async def cancel(intent_id: str, request: Request, principal: Capturer, service: Service) -> Any:
    call = await read_call(request, principal)
    p = parse(CancelPaymentIntent, call.params)
    return respond(await service.cancel(call.ctx, call.shape, intent_id, p.cancellation_reason))
