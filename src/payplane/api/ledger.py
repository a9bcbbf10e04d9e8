"""/v1/ledger: Payplane's ledger accounts and entries, under Stripe's list conventions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from payplane.api.context import Auth, list_object, list_query, read_call
from payplane.api.errors import parse
from payplane.api.schemas import ListLedgerAccounts, ListLedgerEntries
from payplane.services.balances import BalanceService

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])


def _service(request: Request) -> BalanceService:
    service: BalanceService = request.app.state.balances
    return service


@router.get("/accounts")
async def list_accounts(request: Request, principal: Auth) -> Any:
    call = await read_call(request, principal)
    p = parse(ListLedgerAccounts, call.params)
    currency = p.currency.lower() if p.currency else None
    query = list_query(p.limit, p.starting_after, p.ending_before, None, {"currency": currency})
    page = await _service(request).accounts(call.ctx, query)
    return list_object(page, "/v1/ledger/accounts")


@router.get("/accounts/{account_id}/entries")
async def list_entries(account_id: str, request: Request, principal: Auth) -> Any:
    call = await read_call(request, principal)
    p = parse(ListLedgerEntries, call.params)
    query = list_query(p.limit, p.starting_after, p.ending_before, None, {})
    page = await _service(request).entries(call.ctx, account_id, query)
    return list_object(page, f"/v1/ledger/accounts/{account_id}/entries")
