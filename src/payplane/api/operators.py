"""/v1/operators: a merchant's staff accounts and their roles, managed by the merchant's secret
key or an admin operator. The operator's bearer token is in the create response only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from payplane.api.access import permission
from payplane.api.context import list_object, list_query, read_call, respond
from payplane.api.errors import parse, stripe_json
from payplane.api.schemas import ListParams, Strings, StripeParams
from payplane.domain.access import Principal
from payplane.services.credentials import CredentialService

PATH = "/v1/operators"
router = APIRouter(prefix=PATH, tags=["operators"])
Reader = Annotated[Principal, Depends(permission("operators", "read"))]
Writer = Annotated[Principal, Depends(permission("operators", "write"))]


class CreateOperator(StripeParams):
    email: Annotated[str, Field(min_length=1, max_length=254)]
    roles: Strings


class UpdateOperator(StripeParams):
    roles: Strings


async def _service(request: Request) -> CredentialService:
    service: CredentialService = request.app.state.container.credentials
    return service


Service = Annotated[CredentialService, Depends(_service)]


@router.post("")
async def create(request: Request, principal: Writer, service: Service) -> Any:
    call = await read_call(request, principal)
    p = parse(CreateOperator, call.params)
    return respond(await service.create_operator(call.ctx, call.shape, p.email, p.roles))


@router.get("")
async def list_operators(request: Request, principal: Reader, service: Service) -> Any:
    call = await read_call(request, principal)
    p = parse(ListParams, call.params)
    query = list_query(p.limit, p.starting_after, p.ending_before, p.created, {})
    return list_object(await service.list_operators(call.ctx, query), PATH)


@router.get("/{operator_id}")
async def retrieve(operator_id: str, request: Request, principal: Reader, service: Service) -> Any:
    call = await read_call(request, principal)
    return stripe_json(200, await service.retrieve_operator(call.ctx, operator_id))


@router.post("/{operator_id}")
async def update(operator_id: str, request: Request, principal: Writer, service: Service) -> Any:
    call = await read_call(request, principal)
    p = parse(UpdateOperator, call.params)
    return respond(await service.update_operator(call.ctx, call.shape, operator_id, p.roles))


@router.delete("/{operator_id}")
async def delete(operator_id: str, request: Request, principal: Writer, service: Service) -> Any:
    call = await read_call(request, principal)
    parse(StripeParams, call.params)
    return respond(await service.delete_operator(call.ctx, call.shape, operator_id))
