"""PaymentMethod use cases: saved cards retrieved, listed, attached and detached; publishable
keys made known to the card vault.

Cards are saved by the vault, never by the core. The core copies a card's description (brand,
last4, expiry, fingerprint) from the vault the first time it sees its token, retrieved, attached
or used in a payment, and from then on reads its own copy; a token the vault does not hold for
the calling merchant, another merchant's included, is missing.
"""

from __future__ import annotations

from typing import Any

import structlog

from payplane.domain.errors import PspUnavailable, ResourceMissing
from payplane.domain.payment_method import is_vault_token
from payplane.domain.saved_card import SavedCard
from payplane.services.idempotency import RequestShape
from payplane.services.payment_method_ports import Vault, VaultUnavailable
from payplane.services.ports import ListQuery, Page, RequestContext, UnitOfWork
from payplane.services.responses import Response
from payplane.services.runner import AttemptRunner

log = structlog.get_logger()
RESOURCE = "PaymentMethod"


class PaymentMethodService:
    def __init__(self, runner: AttemptRunner, vault: Vault) -> None:
        self._runner = runner
        self._uow = runner.uow
        self._vault = vault

    async def retrieve(self, ctx: RequestContext, card_id: str) -> dict[str, Any]:
        return (await self.known(ctx, card_id, param="payment_method")).as_stripe_object()

    async def list(self, ctx: RequestContext, query: ListQuery) -> Page:
        async with self._uow() as uow:
            return await uow.saved_cards.list(ctx.merchant_id, query)

    async def check_usable(self, ctx: RequestContext, payment_method: str) -> None:
        """Before a payment: a vault token must be the merchant's own card. The PSP's test
        tokens (pm_card_visa ...) are not stored objects; the connector judges those."""
        if is_vault_token(payment_method):
            await self.known(ctx, payment_method, param="payment_method")

    async def known(self, ctx: RequestContext, card_id: str, *, param: str) -> SavedCard:
        """The merchant's saved card, copied from the vault the first time it is asked for."""
        async with self._uow() as uow:
            card = await uow.saved_cards.get(ctx.merchant_id, card_id)
        if card is not None:
            return card
        if not is_vault_token(card_id):
            raise ResourceMissing(RESOURCE, card_id, param=param)
        try:
            card = await self._vault.saved_card(ctx.merchant_id, card_id)
        except VaultUnavailable as exc:
            raise PspUnavailable(
                f"The card vault could not be asked about {card_id} ({exc}); retry later.",
                code="vault_unavailable",
            ) from exc
        if card is None:
            raise ResourceMissing(RESOURCE, card_id, param=param)
        async with self._uow() as uow:
            card = await uow.saved_cards.add(card)
            await uow.commit()
        return card

    async def attach(
        self, ctx: RequestContext, shape: RequestShape, card_id: str, customer: str
    ) -> Response:
        await self.known(ctx, card_id, param="payment_method")

        async def prepare(uow: UnitOfWork) -> Response:
            card = await self._locked(uow, ctx, card_id)
            if card.customer != customer:
                card.attach(customer)
                await self._changed(uow, ctx, card, "attached", customer)
            return Response(200, card.as_stripe_object())

        return await self._runner.execute(ctx, shape, prepare)

    async def detach(self, ctx: RequestContext, shape: RequestShape, card_id: str) -> Response:
        async def prepare(uow: UnitOfWork) -> Response:
            card = await self._locked(uow, ctx, card_id)
            customer = card.customer
            card.detach()
            await self._changed(uow, ctx, card, "detached", customer)
            return Response(200, card.as_stripe_object())

        return await self._runner.execute(ctx, shape, prepare)

    async def register_publishable_keys(self, *, limit: int) -> int:
        """Tell the vault the keys it has not confirmed (it was down when they were made);
        answers how many it took. The worker runs this from its start on."""
        async with self._uow() as uow:
            pending = await uow.publishable_keys.unregistered(limit=limit)
        registered = 0
        for key in pending:
            try:
                await self._vault.register_publishable_key(key)
            except VaultUnavailable as exc:
                log.warning("publishable keys not registered yet", reason=str(exc))
                break  # the vault is down or refuses us: the next round tries again
            async with self._uow() as uow:
                await uow.publishable_keys.registered(key.key)
                await uow.commit()
            registered += 1
        return registered

    async def _locked(self, uow: UnitOfWork, ctx: RequestContext, card_id: str) -> SavedCard:
        card = await uow.saved_cards.get(ctx.merchant_id, card_id, lock=True)
        if card is None:
            raise ResourceMissing(RESOURCE, card_id, param="payment_method")
        return card

    async def _changed(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        card: SavedCard,
        change: str,
        customer: str | None,
    ) -> None:
        await uow.saved_cards.save(card)
        obj = card.as_stripe_object()
        await uow.outbox.append(ctx, f"payment_method.{change}", obj, payment_intent_id=None)
        await uow.audit.record(
            ctx,
            f"payment_method.{change}",
            object_type="payment_method",
            object_id=card.id,
            detail={"customer": customer},
        )
