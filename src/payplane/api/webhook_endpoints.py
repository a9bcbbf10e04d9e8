"""/v1/webhook_endpoints: Stripe's Webhook Endpoints API, plus Payplane's resend and deliveries."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from payplane.api.access import permission
from payplane.api.context import list_object, list_query, read_call, respond
from payplane.api.errors import parse, stripe_json
from payplane.api.schemas import (
    CreateWebhookEndpoint,
    DeleteWebhookEndpoint,
    ListWebhookDeliveries,
    ListWebhookEndpoints,
    ResendWebhookEvent,
    UpdateWebhookEndpoint,
)
from payplane.domain.access import Principal
from payplane.services.webhooks import EndpointParams, EndpointUpdate, WebhookEndpointService

PATH = "/v1/webhook_endpoints"
router = APIRouter(prefix=PATH, tags=["webhook_endpoints"])
Reader = Annotated[Principal, Depends(permission("webhook_endpoints", "read"))]
Writer = Annotated[Principal, Depends(permission("webhook_endpoints", "write"))]


async def _service(request: Request) -> WebhookEndpointService:
    service: WebhookEndpointService = request.app.state.webhook_endpoints
    return service


Service = Annotated[WebhookEndpointService, Depends(_service)]


@router.post("")
async def create(request: Request, principal: Writer, service: Service) -> Any:
    call = await read_call(request, principal)
    p = parse(CreateWebhookEndpoint, call.params)
    params = EndpointParams(
        url=p.url,
        enabled_events=p.enabled_events,
        description=p.description or None,
        metadata=p.metadata or {},
        api_version=p.api_version,
    )
    return respond(await service.create(call.ctx, call.shape, params))


@router.get("")
async def list_endpoints(request: Request, principal: Reader, service: Service) -> Any:
    call = await read_call(request, principal)
    p = parse(ListWebhookEndpoints, call.params)
    query = list_query(p.limit, p.starting_after, p.ending_before, p.created, {})
    return list_object(await service.list(call.ctx, query), PATH)


@router.get("/{endpoint_id}")
async def retrieve(endpoint_id: str, request: Request, principal: Reader, service: Service) -> Any:
    call = await read_call(request, principal)
    return stripe_json(200, await service.retrieve(call.ctx, endpoint_id))


@router.post("/{endpoint_id}")
async def update(endpoint_id: str, request: Request, principal: Writer, service: Service) -> Any:
    call = await read_call(request, principal)
    p = parse(UpdateWebhookEndpoint, call.params)
    changes = EndpointUpdate(
        url=p.url,
        enabled_events=p.enabled_events,
        description=p.description,
        # metadata= unsets every key; an empty hash changes nothing (Stripe's rules).
        metadata={} if p.metadata == "" else (p.metadata or None),
        disabled=p.disabled,
    )
    return respond(await service.update(call.ctx, call.shape, endpoint_id, changes))


@router.delete("/{endpoint_id}")
async def delete(endpoint_id: str, request: Request, principal: Writer, service: Service) -> Any:
    call = await read_call(request, principal)
    parse(DeleteWebhookEndpoint, call.params)
    return respond(await service.delete(call.ctx, call.shape, endpoint_id))


@router.post("/{endpoint_id}/resend")
async def resend(endpoint_id: str, request: Request, principal: Writer, service: Service) -> Any:
    call = await read_call(request, principal)
    p = parse(ResendWebhookEvent, call.params)
    return respond(await service.resend(call.ctx, call.shape, endpoint_id, p.event))


@router.get("/{endpoint_id}/deliveries")
async def deliveries(
    endpoint_id: str, request: Request, principal: Reader, service: Service
) -> Any:
    call = await read_call(request, principal)
    p = parse(ListWebhookDeliveries, call.params)
    query = list_query(p.limit, p.starting_after, p.ending_before, None, {"event": p.event})
    page = await service.deliveries(call.ctx, endpoint_id, query)
    return list_object(page, f"{PATH}/{endpoint_id}/deliveries")
