"""Reading a merchant's money: Stripe's Balance object, and the ledger accounts behind it."""

from __future__ import annotations

from typing import Any

from payplane.services.ports import ListQuery, Page, RequestContext, UnitOfWorkFactory


def _funds(amount: int, currency: str) -> dict[str, Any]:
    # Every payment Payplane takes today is a card payment.
    return {"amount": amount, "currency": currency, "source_types": {"card": amount}}


class BalanceService:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def retrieve(self, ctx: RequestContext) -> dict[str, Any]:
        async with self._uow() as uow:
            pending = await uow.balances.pending(ctx.merchant_id)
        # Nothing is settled to the merchant yet (settlement comes later), so all of it is
        # pending; available still names each currency, as Stripe's does.
        return {
            "object": "balance",
            "available": [_funds(0, currency) for currency in pending],
            "pending": [_funds(amount, currency) for currency, amount in pending.items()],
            "livemode": False,
        }

    async def accounts(self, ctx: RequestContext, query: ListQuery) -> Page:
        async with self._uow() as uow:
            return await uow.balances.accounts(ctx.merchant_id, query)

    async def entries(self, ctx: RequestContext, account_id: str, query: ListQuery) -> Page:
        async with self._uow() as uow:
            return await uow.balances.entries(ctx.merchant_id, account_id, query)
