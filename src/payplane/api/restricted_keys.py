"""/v1/restricted_keys: Payplane's restricted keys (Stripe's rk_ keys), managed by the merchant's
secret key or an admin operator. The key's secret is in the create response only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from payplane.api.access import permission
from payplane.api.context import list_object, list_query, read_call, respond
from payplane.api.errors import parse, stripe_json
from payplane.api.schemas import ListParams, StripeParams
from payplane.domain.access import Principal
from payplane.services.credentials import CredentialService

PATH = "/v1/restricted_keys"
router = APIRouter(prefix=PATH, tags=["restricted_keys"])
Reader = Annotated[Principal, Depends(permission("restricted_keys", "read"))]
Writer = Annotated[Principal, Depends(permission("restricted_keys", "write"))]


class CreateRestrictedKey(StripeParams):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    permissions: dict[str, str]  # resource -> level, e.g. permissions[refunds]=write


async def _service(request: Request) -> CredentialService:
    service: CredentialService = request.app.state.container.credentials
    return service


Service = Annotated[CredentialService, Depends(_service)]


@router.post("")
async def create(request: Request, principal: Writer, service: Service) -> Any:
    call = await read_call(request, principal)
    p = parse(CreateRestrictedKey, call.params)
    return respond(await service.create_restricted_key(call.ctx, call.shape, p.name, p.permissions))


@router.get("")
async def list_keys(request: Request, principal: Reader, service: Service) -> Any:
    call = await read_call(request, principal)
    p = parse(ListParams, call.params)
    query = list_query(p.limit, p.starting_after, p.ending_before, p.created, {})
    return list_object(await service.list_restricted_keys(call.ctx, query), PATH)


@router.get("/{key_id}")
async def retrieve(key_id: str, request: Request, principal: Reader, service: Service) -> Any:
    call = await read_call(request, principal)
    return stripe_json(200, await service.retrieve_restricted_key(call.ctx, key_id))


@router.delete("/{key_id}")
async def revoke(key_id: str, request: Request, principal: Writer, service: Service) -> Any:
    call = await read_call(request, principal)
    parse(StripeParams, call.params)
    return respond(await service.revoke_restricted_key(call.ctx, call.shape, key_id))
