"""Dispute use cases: following the PSP's disputes, and the merchant's answers to them.

Until PSP webhooks exist, Payplane learns of disputes by reading the PSP's change feed (`sync`).
Each change is applied in one transaction together with its ledger entries, events, audit row
and the feed cursor, under the payment's and the dispute's row locks; the PSP's change_seq makes
a change read twice, by one worker or by two, a no-op. The merchant's actions (evidence,
metadata, close) ask the PSP first and then apply its answer the same way, in one transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from payplane.domain.access import PLATFORM_ACCOUNT
from payplane.domain.dispute import Dispute
from payplane.domain.errors import InvalidRequest, ResourceMissing
from payplane.domain.ids import new_id
from payplane.domain.payment_intent import merge_metadata
from payplane.services import dispute_changes, idempotency
from payplane.services.idempotency import RequestShape
from payplane.services.ports import (
    ClaimState,
    Clock,
    ListQuery,
    Page,
    PspConnector,
    PspDispute,
    RequestContext,
    UnitOfWork,
    UnitOfWorkFactory,
)
from payplane.services.responses import Response

SYNC_BATCH = 100
# Stripe's limit on an object's metadata keys, counted after merging (the API checks each request).
MAX_METADATA_KEYS = 50

SendToPsp = Callable[[Dispute, str], Awaitable[PspDispute]]
LocalChange = Callable[[Dispute], None]


@dataclass(frozen=True, slots=True)
class UpdateParams:
    evidence: dict[str, str] | None = None
    # Stripe's default is to submit; None tells "not given" apart, for metadata-only updates.
    submit: bool | None = None
    metadata: dict[str, str] | Literal[""] | None = None  # "" unsets every key

    @property
    def asks_psp(self) -> bool:
        """A metadata-only update is ours alone; evidence and submission are the bank's business."""
        return self.evidence is not None or self.submit is not None


# A dispute about a payment Payplane does not know may be one whose commit is still on its way;
# after this long it is taken to be unknown indeed (see DisputeService.sync).
UNKNOWN_PAYMENT_GRACE_SECONDS = 120
FEED_ACTOR = "system:dispute_sync"


class DisputeService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        connector: PspConnector,
        clock: Clock,
        *,
        lock_seconds: float,
    ) -> None:
        self._uow = uow
        self._connector = connector
        self._clock = clock
        self._lock_seconds = lock_seconds

    # -- reads ------------------------------------------------------------------------------

    async def retrieve(self, ctx: RequestContext, dispute_id: str) -> dict[str, Any]:
        async with self._uow() as uow:
            dispute = await uow.disputes.get(ctx.merchant_id, dispute_id)
        return dispute.as_stripe_object()

    async def list(self, ctx: RequestContext, query: ListQuery) -> Page:
        async with self._uow() as uow:
            return await uow.disputes.list(ctx.merchant_id, query)

    # -- the merchant's actions ----------------------------------------------------------------

    async def update(
        self, ctx: RequestContext, shape: RequestShape, dispute_id: str, params: UpdateParams
    ) -> Response:
        submit = params.submit is not False

        async def send(dispute: Dispute, key: str) -> PspDispute:
            return await self._connector.submit_dispute_evidence(
                idempotency_key=key,
                psp_dispute_id=dispute.psp_dispute_id,
                evidence=params.evidence or {},
                submit=submit,
            )

        def change(dispute: Dispute) -> None:
            if params.metadata is not None:
                dispute.metadata = _merged_metadata(dispute.metadata, params.metadata)
            if params.asks_psp and submit:
                dispute.submission_count += 1
            if not dispute.events:  # the PSP's answer may already have said "updated"
                dispute.events.append("charge.dispute.updated")

        return await self._act(
            ctx, shape, dispute_id, "update", send if params.asks_psp else None, change
        )

    async def close(self, ctx: RequestContext, shape: RequestShape, dispute_id: str) -> Response:
        async def send(dispute: Dispute, key: str) -> PspDispute:
            return await self._connector.close_dispute(
                idempotency_key=key, psp_dispute_id=dispute.psp_dispute_id
            )

        return await self._act(ctx, shape, dispute_id, "close", send, None)

    async def _act(
        self,
        ctx: RequestContext,
        shape: RequestShape,
        dispute_id: str,
        action: str,
        send: SendToPsp | None,
        change: LocalChange | None,
    ) -> Response:
        async with self._uow() as uow:
            claimed = await idempotency.claim(uow, ctx, shape, self._lock_seconds)
            if claimed is not None and claimed.state is ClaimState.REPLAY:
                return idempotency.replay(claimed)
            # A resumed key simply runs again: the PSP replays its answer to the same PSP key.
            dispute = await _locked(uow, ctx.merchant_id, dispute_id)
            dispute.check_open(action)
            if send is None:
                return await _apply(uow, ctx, dispute, action, None, change)
            if change is not None:
                # A dry run on a copy that is never saved: input this dispute cannot take
                # (too many metadata keys) fails before the PSP has been asked anything.
                change(dispute)
            await uow.commit()  # the key stays claimed while the PSP works: a retry gets 409
        try:
            answer = await send(dispute, _psp_key(ctx))
        except Exception:
            await self._release(ctx)
            raise
        async with self._uow() as uow:
            dispute = await _locked(uow, ctx.merchant_id, dispute_id)
            return await _apply(uow, ctx, dispute, action, answer, change)

    async def _release(self, ctx: RequestContext) -> None:
        """The PSP did not answer: free the key so a retry asks it again (under the same key)."""
        if ctx.idempotency_key is None:
            return
        async with self._uow() as uow:
            await uow.idempotency.release(ctx)
            await uow.commit()

    # -- following the PSP ---------------------------------------------------------------------

    async def sync(self, connector: PspConnector) -> int:
        """Apply every dispute change the PSP reports after our cursor; returns how many."""
        async with self._uow() as uow:
            after = await uow.cursors.get(connector.name, dispute_changes.FEED)
        applied = 0
        while True:
            feed = await connector.disputes_changed(after=after, limit=SYNC_BATCH)
            for change in feed.disputes:
                try:
                    await self._apply_twice(connector.name, change)
                except ResourceMissing:
                    if not await self._pass_unknown(connector.name, change):
                        return applied  # its payment may still be committing: next round
                after = change.change_seq
            applied += len(feed.disputes)
            if not (feed.has_more and feed.disputes):
                return applied

    async def _apply_twice(self, connector: str, change: PspDispute) -> None:
        try:
            await self._apply_change(connector, change)
        except ResourceMissing:
            raise
        except Exception:
            # Another worker inserted this dispute between our lookup and our insert (the
            # unique (connector, psp_dispute_id) refused ours), or we hit a deadlock: a fresh
            # transaction sees what the other one committed. A second failure is left to the
            # next round, which rereads from the cursor.
            await self._apply_change(connector, change)

    async def _apply_change(self, connector: str, change: PspDispute) -> None:
        async with self._uow() as uow:
            await dispute_changes.apply_feed_change(uow, connector, change)
            await uow.commit()

    async def _pass_unknown(self, connector: str, change: PspDispute) -> bool:
        """Move the cursor past a change about a payment Payplane does not know, once it is old
        enough not to be a commit still on its way, so that it does not hold up every later
        dispute. Nothing is lost: it is audited, the PSP's webhook for it is retried and then
        parked by the inbox, and its chargeback shows as unexpected_chargeback in
        reconciliation. Returns False while it is still too young to pass."""
        if self._clock.now() - change.created < UNKNOWN_PAYMENT_GRACE_SECONDS:
            return False
        async with self._uow() as uow:
            await uow.audit.record(
                RequestContext(PLATFORM_ACCOUNT, FEED_ACTOR, new_id("req")),
                "dispute_feed.unknown_payment",
                object_type="psp_dispute",
                object_id=change.psp_id,
                detail={
                    "connector": connector,
                    "merchant_reference": change.merchant_reference,
                    "status": change.status,
                    "amount": change.amount,
                    "currency": change.currency,
                    "change_seq": change.change_seq,
                },
                reason="the dispute names a payment Payplane does not know",
            )
            await uow.cursors.advance(connector, dispute_changes.FEED, change.change_seq)
            await uow.commit()
        return True


async def _locked(uow: UnitOfWork, merchant_id: str, dispute_id: str) -> Dispute:
    """The dispute, locked after its payment (the lock order every payment writer keeps)."""
    unlocked = await uow.disputes.get(merchant_id, dispute_id)
    await uow.intents.get(merchant_id, unlocked.payment_intent_id, lock=True)
    return await uow.disputes.get(merchant_id, dispute_id, lock=True)


async def _apply(
    uow: UnitOfWork,
    ctx: RequestContext,
    dispute: Dispute,
    action: str,
    answer: PspDispute | None,
    change: LocalChange | None,
) -> Response:
    """Apply the PSP's answer and the local change to a locked dispute, and finish the key."""
    before = dispute.status
    effect = dispute_changes.follow(dispute, answer) if answer is not None else None
    if effect is not None:
        await dispute_changes.move_money(uow, dispute, effect)
    if change is not None:
        change(dispute)
    await uow.disputes.save(dispute)
    await dispute_changes.record_events(uow, ctx, dispute)
    await uow.audit.record(
        ctx,
        f"dispute.{action}",
        object_type="dispute",
        object_id=dispute.id,
        before=before.value,
        after=dispute.status.value,
        detail={"money": effect.value if effect else None},
    )
    response = Response(200, dispute.as_stripe_object())
    await idempotency.finish(uow, ctx, response)
    await uow.commit()
    return response


def _merged_metadata(
    current: dict[str, str], update: dict[str, str] | Literal[""]
) -> dict[str, str]:
    merged = {} if update == "" else merge_metadata(current, update)
    if len(merged) > MAX_METADATA_KEYS:
        raise InvalidRequest(
            f"Invalid metadata: this dispute would have {len(merged)} keys; an object can have "
            f"at most {MAX_METADATA_KEYS}. Unset keys with an empty value to make room.",
            code="parameter_invalid",
            param="metadata",
        )
    return merged


def _psp_key(ctx: RequestContext) -> str:
    """The PSP's idempotency key: a retry of the same request reaches the PSP under the same one."""
    if ctx.idempotency_key is None:
        return new_id("dpr")
    # Our keys are unique per merchant, the PSP's across all of them: scope it by merchant.
    scoped = f"{ctx.merchant_id}\x00{ctx.idempotency_key}".encode()
    return "dpr_" + hashlib.sha256(scoped).hexdigest()
