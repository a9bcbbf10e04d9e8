"""/v1/events: the outbox, read as Stripe's Events API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from payplane.api.access import permission
from payplane.api.context import list_object, list_query, read_call
from payplane.api.errors import parse, stripe_json
from payplane.api.schemas import ListEvents
from payplane.domain.access import Principal
from payplane.services.events import EventService

router = APIRouter(prefix="/v1/events", tags=["events"])
Reader = Annotated[Principal, Depends(permission("events", "read"))]


def _service(request: Request) -> EventService:
    service: EventService = request.app.state.events
    return service


@router.get("")
async def list_events(request: Request, principal: Reader) -> Any:
    call = await read_call(request, principal)
    p = parse(ListEvents, call.params)
    query = list_query(p.limit, p.starting_after, p.ending_before, p.created, {"type": p.type})
    return list_object(await _service(request).list(call.ctx, query), "/v1/events")


@router.get("/{event_id}")
async def retrieve(event_id: str, request: Request, principal: Reader) -> Any:
    call = await read_call(request, principal)
    return stripe_json(200, await _service(request).retrieve(call.ctx, event_id))
