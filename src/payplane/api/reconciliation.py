"""/v1/reconciliation/runs and /v1/remediation/items: Payplane's reconciliation runs and its
remediation queue, under Stripe's conventions (objects, lists, errors, Idempotency-Key)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from payplane.api.access import permission
from payplane.api.context import list_object, list_query, read_call, respond
from payplane.api.errors import parse, stripe_json
from payplane.api.schemas import ListParams, StripeParams
from payplane.domain.access import Principal
from payplane.domain.remediation import Action, BreakType, ItemStatus
from payplane.services.reconciliation import ReconciliationService
from payplane.services.remediation import ActionParams, RemediationService
from payplane.services.write_offs import WriteOffs

RUNS = "/v1/reconciliation/runs"
ITEMS = "/v1/remediation/items"
runs = APIRouter(prefix=RUNS, tags=["reconciliation"])
items = APIRouter(prefix=ITEMS, tags=["remediation"])
RunReader = Annotated[Principal, Depends(permission("reconciliation", "read"))]
RunWriter = Annotated[Principal, Depends(permission("reconciliation", "write"))]
ItemReader = Annotated[Principal, Depends(permission("remediation", "read"))]
ItemWriter = Annotated[Principal, Depends(permission("remediation", "write"))]

Reason = Annotated[str, Field(min_length=1, max_length=5000)]


class CreateRun(StripeParams):
    date: date
    connector: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    dry_run: bool = False
    supersede: bool = False


class ListItems(ListParams):
    status: ItemStatus | None = None
    type: BreakType | None = None
    run: str | None = None


class Assign(StripeParams):
    assignee: Annotated[str, Field(min_length=1, max_length=200)]
    reason: Reason | None = None


class Note(StripeParams):
    text: Reason


class Review(StripeParams):
    reason: Reason | None = None


class Resolve(StripeParams):
    reason: Reason
    account: Annotated[str, Field(max_length=200)] | None = None


class WriteOff(StripeParams):
    reason: Reason


async def _runs(request: Request) -> ReconciliationService:
    service: ReconciliationService = request.app.state.container.reconciliation
    return service


async def _items(request: Request) -> RemediationService:
    service: RemediationService = request.app.state.container.remediation
    return service


async def _write_offs(request: Request) -> WriteOffs:
    service: WriteOffs = request.app.state.container.write_offs
    return service


Runs = Annotated[ReconciliationService, Depends(_runs)]
Items = Annotated[RemediationService, Depends(_items)]
WriteOffService = Annotated[WriteOffs, Depends(_write_offs)]


@runs.get("")
async def list_runs(request: Request, operator: RunReader, service: Runs) -> Any:
    call = await read_call(request, operator)
    p = parse(ListParams, call.params)
    query = list_query(p.limit, p.starting_after, p.ending_before, p.created, {})
    return list_object(await service.list(query), RUNS)


@runs.get("/{run_id}")
async def retrieve_run(run_id: str, request: Request, operator: RunReader, service: Runs) -> Any:
    await read_call(request, operator)
    return stripe_json(200, await service.retrieve(run_id))


@runs.post("")
async def create_run(request: Request, operator: RunWriter, service: Runs) -> Any:
    call = await read_call(request, operator)
    p = parse(CreateRun, call.params)
    response = await service.create(
        call.ctx, call.shape, p.date, p.connector, dry_run=p.dry_run, supersede=p.supersede
    )
    return respond(response)


@items.get("")
async def list_items(request: Request, operator: ItemReader, service: Items) -> Any:
    call = await read_call(request, operator)
    p = parse(ListItems, call.params)
    filters = {
        "status": p.status.value if p.status else None,
        "type": p.type.value if p.type else None,
        "run_id": p.run,
    }
    query = list_query(p.limit, p.starting_after, p.ending_before, p.created, filters)
    return list_object(await service.list(query), ITEMS)


@items.get("/{item_id}")
async def retrieve_item(
    item_id: str, request: Request, operator: ItemReader, service: Items
) -> Any:
    await read_call(request, operator)
    return stripe_json(200, await service.retrieve(item_id))


async def _act(
    item_id: str,
    action: Action,
    model: type[StripeParams],
    request: Request,
    operator: Principal,
    service: RemediationService,
) -> Any:
    call = await read_call(request, operator)
    params = ActionParams(**parse(model, call.params).model_dump(exclude={"expand"}))
    return respond(await service.act(call.ctx, call.shape, item_id, action, params))


@items.post("/{item_id}/assign")
async def assign(item_id: str, request: Request, operator: ItemWriter, service: Items) -> Any:
    return await _act(item_id, Action.ASSIGN, Assign, request, operator, service)


@items.post("/{item_id}/notes")
async def note(item_id: str, request: Request, operator: ItemWriter, service: Items) -> Any:
    return await _act(item_id, Action.NOTE, Note, request, operator, service)


@items.post("/{item_id}/review")
async def review(item_id: str, request: Request, operator: ItemWriter, service: Items) -> Any:
    return await _act(item_id, Action.REVIEW, Review, request, operator, service)


@items.post("/{item_id}/resolve")
async def resolve(item_id: str, request: Request, operator: ItemWriter, service: Items) -> Any:
    return await _act(item_id, Action.RESOLVE, Resolve, request, operator, service)


@items.post("/{item_id}/write_off")
async def write_off(
    item_id: str, request: Request, operator: ItemWriter, service: WriteOffService
) -> Any:
    call = await read_call(request, operator)
    p = parse(WriteOff, call.params)
    # Operators and restricted keys need a second operator's approval to write off.
    maker_checker = operator.subject_to_approval
    return respond(
        await service.request(call.ctx, call.shape, item_id, p.reason, maker_checker=maker_checker)
    )
