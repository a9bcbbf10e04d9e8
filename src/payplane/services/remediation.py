"""The remediation queue: operators' actions on break items, and the automatic resolution of
captures the PSP settled that Payplane had not recorded yet.

Every action runs through AttemptRunner.execute (Idempotency-Key, one transaction) and is
audited with its actor and reason. Money leaves suspense only by new journals: an adjustment to
a named account, or a write-off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from payplane.domain import ledger
from payplane.domain.access import PLATFORM_ACCOUNT
from payplane.domain.attempt import AttemptStatus
from payplane.domain.errors import InvalidRequest
from payplane.domain.ids import new_id
from payplane.domain.ledger import JournalKind
from payplane.domain.remediation import Action, ItemStatus, after, target_account
from payplane.services import orchestrator
from payplane.services.idempotency import RequestShape
from payplane.services.ports import (
    ListQuery,
    Page,
    PspOutcome,
    PspResult,
    RequestContext,
    UnitOfWork,
)
from payplane.services.reconciliation_ports import RemediationItem
from payplane.services.responses import Response
from payplane.services.runner import AttemptRunner

# The scope operators' idempotency keys and audit rows are filed under: the platform account.
OPERATOR_SCOPE = PLATFORM_ACCOUNT
SYSTEM_ACTOR = "system:reconciliation"


@dataclass(frozen=True, slots=True)
class ActionParams:
    reason: str | None = None
    assignee: str | None = None  # assign
    text: str | None = None  # note
    account: str | None = None  # resolve: owner:name:purpose to move the suspense amount to


class RemediationService:
    def __init__(self, runner: AttemptRunner) -> None:
        self._runner = runner
        self._uow = runner.uow

    async def retrieve(self, item_id: str) -> dict[str, Any]:
        async with self._uow() as uow:
            return await uow.remediation.render(item_id)

    async def list(self, query: ListQuery) -> Page:
        async with self._uow() as uow:
            return await uow.remediation.list(query)

    async def act(
        self,
        ctx: RequestContext,
        shape: RequestShape,
        item_id: str,
        action: Action,
        params: ActionParams,
    ) -> Response:
        _check_params(action, params)

        async def prepare(uow: UnitOfWork) -> Response:
            item = await uow.remediation.get(item_id, lock=True)
            before = item.status
            item.status = after(action, item.status)
            journal_id = await self._apply(uow, ctx, item, action, params)
            await uow.remediation.save(item)
            await uow.audit.record(
                ctx,
                f"remediation_item.{action.value}",
                object_type="remediation_item",
                object_id=item.id,
                before=before.value,
                after=item.status.value,
                detail={
                    "merchant": item.merchant_id,
                    "assignee": item.assignee,
                    "account": params.account,
                    "journal": journal_id,
                },
                reason=params.reason or params.text,
            )
            return Response(200, await uow.remediation.render(item.id))

        return await self._runner.execute(ctx, shape, prepare)

    async def _apply(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        item: RemediationItem,
        action: Action,
        params: ActionParams,
    ) -> str | None:
        """The action's own effect; the id of the journal it posted, if any."""
        if action is Action.ASSIGN:
            item.assignee = params.assignee
        elif action is Action.NOTE:
            assert params.text is not None
            await uow.remediation.add_note(item.id, ctx.actor, params.text)
        elif action in (Action.RESOLVE, Action.WRITE_OFF):
            await uow.remediation.add_note(
                item.id, ctx.actor, f"{action.value.replace('_', ' ')}: {params.reason}"
            )
            return await self._clear(uow, item, action, params.account)
        return None

    async def _clear(
        self, uow: UnitOfWork, item: RemediationItem, action: Action, account: str | None
    ) -> str | None:
        """Move what the item holds in suspense out of it, by a new journal."""
        if not any(leg.net for leg in item.suspense):
            return None
        if action is Action.WRITE_OFF:
            journal = ledger.clear_suspense(
                JournalKind.WRITE_OFF, item.suspense, ledger.write_off_account
            )
        elif account is None:
            held = ", ".join(f"{leg.net} {leg.currency}" for leg in item.suspense if leg.net)
            raise InvalidRequest(
                f"This item holds {held} in suspense: name the account to move it to "
                "(account=owner:name:purpose), or write the item off.",
                code="parameter_missing",
                param="account",
            )
        else:
            target = account
            journal = ledger.clear_suspense(
                JournalKind.REMEDIATION, item.suspense, lambda cur: target_account(target, cur)
            )
        journal_id = await uow.ledger.post(journal)
        await uow.remediation.link_journal(item.id, journal_id, "resolved")
        return journal_id

    async def ask_psp(self, source: str) -> int:
        """Settle the source's open missing_internally items about a payment whose attempt was
        open: the PSP's answer to an attempt still in doubt is applied through the normal path
        (orchestrator.apply_result), and once the capture is booked (now, or since by the
        resolver or a webhook) and is the reported one, the item is auto-resolved and its line
        settles the capture. How many were."""
        async with self._uow() as uow:
            items = await uow.remediation.awaiting_psp(source)
        resolved = 0
        for item in items:
            assert item.attempt_id is not None
            async with self._uow() as uow:
                attempt = await uow.attempts.get(item.attempt_id)
            if attempt.status.in_doubt:
                connector = self._runner.connectors.get(attempt.connector)
                result = await connector.lookup(attempt.psp_idempotency_key)
                if result.outcome is not PspOutcome.SUCCEEDED:
                    continue  # the PSP cannot say (yet): the item stays for an operator
            else:
                result = None
            resolved += await self._confirmed(item, result)
        return resolved

    async def _confirmed(self, item: RemediationItem, result: PspResult | None) -> int:
        assert item.attempt_id is not None
        assert item.merchant_id is not None
        ctx = RequestContext(item.merchant_id, SYSTEM_ACTOR, new_id("req"))
        async with self._uow() as uow:
            attempt = await uow.attempts.get(item.attempt_id)
            intent = await uow.intents.get(None, attempt.payment_intent_id, lock=True)
            attempt = await uow.attempts.get(item.attempt_id, lock=True)
            if result is not None:
                await orchestrator.apply_result(
                    uow,
                    ctx,
                    self._runner.clock,
                    intent,
                    attempt,
                    result,
                    capture_window=self._runner.capture_window,
                )
            item = await uow.remediation.get(item.id, lock=True)
            captured = attempt.status is AttemptStatus.SUCCEEDED and (
                intent.amount_received,
                intent.currency,
            ) == (item.amount, item.currency)
            if item.status is not ItemStatus.OPEN or not captured:
                await uow.commit()  # whatever the PSP said is a fact; the item stays open
                return 0
            journal_id = await uow.ledger.post(
                ledger.clear_suspense(
                    JournalKind.REMEDIATION,
                    item.suspense,
                    lambda cur: ledger.psp_account(attempt.connector, cur, "receivable"),
                )
            )
            await uow.remediation.link_journal(item.id, journal_id, "resolved")
            await uow.remediation.record_match(item)
            item.status = ItemStatus.AUTO_RESOLVED
            item.explanation = (
                f"The PSP confirmed the capture of {intent.id} (attempt {attempt.id}), which "
                "Payplane then recorded through the normal payment path; the reported amount "
                f"went from suspense to the receivable in journal {journal_id}."
            )
            await uow.remediation.save(item)
            await uow.audit.record(
                ctx,
                "remediation_item.auto_resolve",
                object_type="remediation_item",
                object_id=item.id,
                before=ItemStatus.OPEN.value,
                after=item.status.value,
                detail={"attempt": attempt.id, "journal": journal_id},
                reason=item.explanation,
            )
            await uow.commit()
        return 1


def _check_params(action: Action, params: ActionParams) -> None:
    """What each action needs, checked before anything is read or written."""
    needed = {
        Action.ASSIGN: ("assignee", params.assignee),
        Action.NOTE: ("text", params.text),
        Action.RESOLVE: ("reason", params.reason),
        Action.WRITE_OFF: ("reason", params.reason),
    }.get(action)
    if needed is not None and not (needed[1] or "").strip():
        raise InvalidRequest(
            f"Missing required param: {needed[0]}.", code="parameter_missing", param=needed[0]
        )
