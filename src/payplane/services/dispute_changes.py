"""Applying what the PSP says about a dispute: its feed's changes and its answers to our calls.

`follow` is the one place a PSP dispute becomes a state change, with its ledger entries and
events; the sync and the merchant's actions both end here with the dispute locked, and the PSP's
change_seq makes the same change arriving twice harmless.
"""

from __future__ import annotations

from payplane.domain import ledger
from payplane.domain.dispute import Dispute, DisputeStatus, MoneyEffect
from payplane.domain.ids import new_id
from payplane.domain.money import Money
from payplane.services.ports import PspDispute, RequestContext, UnitOfWork

FEED = "disputes"
SYNC_ACTOR = "system:dispute_sync"


async def apply_feed_change(uow: UnitOfWork, connector: str, change: PspDispute) -> None:
    """Open or follow the dispute a feed change is about, then move the feed's cursor past it."""
    await apply_change(uow, connector, change)
    await uow.cursors.advance(connector, FEED, change.change_seq)


async def apply_change(
    uow: UnitOfWork, connector: str, change: PspDispute, *, actor: str = SYNC_ACTOR
) -> None:
    """Open or follow the dispute a change is about (from the feed or a webhook).

    Leaves the feed's cursor alone: a webhook may bring a change ahead of others still unread.
    """
    # The payment's lock first, as every writer of a payment takes it; it also makes two
    # workers reading the same change take turns, so that the second one finds it done.
    intent = await uow.intents.get(None, change.merchant_reference, lock=True)
    dispute = await uow.disputes.find_by_psp_id(connector, change.psp_id, lock=True)
    before: str | None = None
    if dispute is None:
        dispute = Dispute(
            id=new_id("dp"),
            merchant_id=intent.merchant_id,
            payment_intent_id=intent.id,
            amount=change.amount,
            currency=change.currency,
            reason=change.reason,
            status=DisputeStatus(change.status),
            connector=connector,
            psp_dispute_id=change.psp_id,
            psp_change_seq=change.change_seq,
            created=change.created,
            charge=intent.latest_charge,
            fee=change.fee,
            evidence=dict(change.evidence),
            evidence_due_by=change.evidence_due_by,
        )
        effect: MoneyEffect | None = dispute.opened()
        await uow.disputes.add(dispute)
    else:
        before = dispute.status.value
        seen = dispute.psp_change_seq
        effect = follow(dispute, change)
        if dispute.psp_change_seq != seen:  # a change already seen writes nothing
            await uow.disputes.save(dispute)
    if effect is not None:
        ctx = RequestContext(dispute.merchant_id, actor, new_id("req"))
        await move_money(uow, dispute, effect)
        await record_events(uow, ctx, dispute)
        await uow.audit.record(
            ctx,
            "dispute.sync",
            object_type="dispute",
            object_id=dispute.id,
            before=before,
            after=dispute.status.value,
            detail={
                "psp_dispute_id": change.psp_id,
                "change_seq": change.change_seq,
                "money": effect.value,
            },
        )


def follow(dispute: Dispute, psp: PspDispute) -> MoneyEffect | None:
    """Take the PSP's dispute if it is news; None if stale or not a forward move."""
    effect = dispute.follow(DisputeStatus(psp.status), psp.change_seq)
    if effect is not None:
        # An escalated inquiry brings its fee and a new deadline; the PSP holds the evidence.
        dispute.fee = psp.fee
        dispute.evidence_due_by = psp.evidence_due_by
        dispute.evidence = dict(psp.evidence)
    return effect


async def move_money(uow: UnitOfWork, dispute: Dispute, effect: MoneyEffect) -> None:
    disputed = Money(dispute.amount, dispute.currency)
    if effect in (MoneyEffect.WITHDRAW, MoneyEffect.WITHDRAW_AND_REINSTATE):
        fee = Money(dispute.fee, dispute.currency)
        await uow.ledger.post(
            ledger.chargeback(
                dispute.merchant_id, dispute.connector, dispute.payment_intent_id, disputed, fee
            )
        )
    if effect in (MoneyEffect.REINSTATE, MoneyEffect.WITHDRAW_AND_REINSTATE):
        await uow.ledger.post(
            ledger.chargeback_reversal(
                dispute.merchant_id, dispute.connector, dispute.payment_intent_id, disputed
            )
        )


async def record_events(uow: UnitOfWork, ctx: RequestContext, dispute: Dispute) -> None:
    """Turn the dispute's pending domain events into outbox rows (same transaction)."""
    for event_type in dispute.events:
        await uow.outbox.append(
            ctx, event_type, dispute.as_stripe_object(), payment_intent_id=dispute.payment_intent_id
        )
    dispute.events.clear()
