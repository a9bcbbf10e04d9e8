"""/v1/payment_methods: Stripe's PaymentMethods API over the cards saved in the card vault.

Cards are tokenized at the vault, never here: a creation request is refused before its body is
read, so card data sent by mistake is not decoded, logged or stored by the core.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from payplane.api.access import permission
from payplane.api.context import list_object, list_query, read_call, respond
from payplane.api.errors import parse, stripe_json
from payplane.api.schemas import ListParams, ShortText, StripeParams
from payplane.domain.access import Principal
from payplane.domain.errors import InvalidRequest
from payplane.services.payment_methods import PaymentMethodService

PATH = "/v1/payment_methods"
router = APIRouter(prefix=PATH, tags=["payment_methods"])
Reader = Annotated[Principal, Depends(permission("payment_methods", "read"))]
Writer = Annotated[Principal, Depends(permission("payment_methods", "write"))]


class ListPaymentMethods(ListParams):
    customer: ShortText | None = None
    type: ShortText | None = None


class AttachPaymentMethod(StripeParams):
    # Payplane has no Customer objects: a customer is the merchant's own id for them, as on
    # PaymentIntents.
    customer: Annotated[str, Field(min_length=1, max_length=5000)]


async def _service(request: Request) -> PaymentMethodService:
    service: PaymentMethodService = request.app.state.container.payment_methods
    return service


Service = Annotated[PaymentMethodService, Depends(_service)]


@router.post("")
async def create(request: Request, _principal: Writer) -> Any:
    vault = request.app.state.container.settings.vault_public_url
    raise InvalidRequest(
        "Payplane's API does not take card details: card numbers go to the card vault only. "
        f"Tokenize the card at the vault (POST {vault}/v1/payment_methods with your publishable "
        f"key pk_test_..., or its hosted card form at {vault}/form?key=pk_test_...) and use "
        "the payment method (pm_...) it returns here.",
        code="card_details_not_accepted",
        param="card",
    )


@router.get("")
async def list_payment_methods(request: Request, principal: Reader, service: Service) -> Any:
    call = await read_call(request, principal)
    p = parse(ListPaymentMethods, call.params)
    query = list_query(
        p.limit,
        p.starting_after,
        p.ending_before,
        p.created,
        {"customer": p.customer, "type": p.type},
    )
    return list_object(await service.list(call.ctx, query), PATH)


@router.get("/{payment_method}")
async def retrieve(
    payment_method: str, request: Request, principal: Reader, service: Service
) -> Any:
    call = await read_call(request, principal)
    return stripe_json(200, await service.retrieve(call.ctx, payment_method))


@router.post("/{payment_method}/attach")
async def attach(payment_method: str, request: Request, principal: Writer, service: Service) -> Any:
    call = await read_call(request, principal)
    p = parse(AttachPaymentMethod, call.params)
    return respond(await service.attach(call.ctx, call.shape, payment_method, p.customer))


@router.post("/{payment_method}/detach")
async def detach(payment_method: str, request: Request, principal: Writer, service: Service) -> Any:
    call = await read_call(request, principal)
    parse(StripeParams, call.params)
    return respond(await service.detach(call.ctx, call.shape, payment_method))
