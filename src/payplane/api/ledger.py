"""/v1/ledger: Payplane's ledger accounts and entries, under Stripe's list conventions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from payplane.api.access import permission
from payplane.api.context import list_object, list_query, read_call
from payplane.api.errors import parse
from payplane.api.schemas import ListLedgerAccounts, ListLedgerEntries
from payplane.domain.access import Principal
from payplane.services.balances import BalanceService

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])
Reader = Annotated[Principal, Depends(permission("ledger", "read"))]


def _service(request: Request) -> BalanceService:
    service: BalanceService = request.app.state.balances
    return service


@router.get("/accounts")
async def list_accounts(request: Request, principal: Reader) -> Any:
    call = await read_call(request, principal)
    p = parse(ListLedgerAccounts, call.params)
    currency = p.currency.lower() if p.currency else None
    query = list_query(p.limit, p.starting_after, p.ending_before, None, {"currency": currency})
    page = await _service(request).accounts(call.ctx, query)
    return list_object(page, "/v1/ledger/accounts")


@router.get("/accounts/{account_id}/entries")
async def list_entries(account_id: str, request: Request, principal: Reader) -> Any:
    call = await read_call(request, principal)
    p = parse(ListLedgerEntries, call.params)
    query = list_query(p.limit, p.starting_after, p.ending_before, None, {})
    page = await _service(request).entries(call.ctx, account_id, query)
    return list_object(page, f"/v1/ledger/accounts/{account_id}/entries")
