"""/v1/balance: Stripe's Balance object for the calling merchant."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from payplane.api.access import permission
from payplane.api.context import read_call
from payplane.api.errors import parse, stripe_json
from payplane.api.schemas import StripeParams
from payplane.domain.access import Principal
from payplane.services.balances import BalanceService

router = APIRouter(prefix="/v1/balance", tags=["balance"])
Reader = Annotated[Principal, Depends(permission("balance", "read"))]


def _service(request: Request) -> BalanceService:
    service: BalanceService = request.app.state.balances
    return service


@router.get("")
async def retrieve(request: Request, principal: Reader) -> Any:
    call = await read_call(request, principal)
    parse(StripeParams, call.params)  # only expand[] is accepted, as by Stripe
    return stripe_json(200, await _service(request).retrieve(call.ctx))
