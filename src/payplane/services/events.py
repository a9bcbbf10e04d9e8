"""Reading events and the full story of one payment (for support and the CLI)."""

from __future__ import annotations

from typing import Any

from payplane.services.ports import ListQuery, Page, RequestContext, UnitOfWorkFactory


class EventService:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def retrieve(self, ctx: RequestContext, event_id: str) -> dict[str, Any]:
        async with self._uow() as uow:
            return await uow.outbox.get(ctx.merchant_id, event_id)

    async def list(self, ctx: RequestContext, query: ListQuery) -> Page:
        async with self._uow() as uow:
            return await uow.outbox.list(ctx.merchant_id, query)


async def payment_story(
    uow_factory: UnitOfWorkFactory, merchant_id: str | None, intent_id: str
) -> dict[str, Any]:
    """A payment with its attempts, ledger entries, events and audit rows, oldest first."""
    async with uow_factory() as uow:
        intent = await uow.intents.get(merchant_id, intent_id)
        attempts = await uow.attempts.for_intent(intent_id)
        story: dict[str, Any] = {
            "payment_intent": intent.as_stripe_object(),
            "attempts": [
                {
                    "id": a.id,
                    "kind": a.kind.value,
                    "status": a.status.value,
                    "amount": a.amount,
                    "currency": a.currency,
                    "psp_reference": a.psp_reference,
                    "psp_idempotency_key": a.psp_idempotency_key,
                    "error": a.error,
                }
                for a in attempts
            ],
            "ledger_entries": await uow.ledger.entries_for(intent_id),
            "events": await uow.outbox.for_payment(intent_id),
            "audit": await uow.audit.for_object(intent_id),
        }
    return story
