"""The janitor: PSP calls the PSP cannot account for, escalated to people.

The resolver (AttemptRunner.resolve_due) keeps asking the PSP about calls in doubt, and the
follow-up job (CustomerActions.follow) about payments waiting for a result, each with its own
backoff; neither ever guesses. So a PSP that cannot say keeps a payment processing for ever, and
the janitor makes that visible: a call still in doubt after `escalate_after_checks` status checks
(about an hour with the resolver's backoff), or waiting longer than `max_wait_seconds`, becomes
one remediation item (unresolved_payment). Payplane keeps asking; when the PSP answers after all,
the item is resolved automatically and says so.
"""

from __future__ import annotations

from payplane.domain.access import PLATFORM_ACCOUNT
from payplane.domain.ids import new_id
from payplane.services.ports import RequestContext, UnitOfWorkFactory

ACTOR = "system:janitor"


class Janitor:
    def __init__(
        self, uow: UnitOfWorkFactory, *, escalate_after_checks: int, max_wait_seconds: float
    ) -> None:
        self._uow = uow
        self._checks = escalate_after_checks
        self._max_wait = max_wait_seconds

    async def sweep(self, *, limit: int) -> int:
        """Escalate newly stuck calls and settle answered ones; returns how many items moved."""
        ctx = RequestContext(PLATFORM_ACCOUNT, ACTOR, new_id("req"))
        async with self._uow() as uow:
            opened = await uow.remediation.escalate_unresolved(
                min_checks=self._checks, max_wait_seconds=self._max_wait, limit=limit
            )
            settled = await uow.remediation.settle_unresolved(limit=limit)
            for action, items in (("escalated", opened), ("auto_resolved", settled)):
                for item in items:
                    await uow.audit.record(
                        ctx,
                        f"remediation.{action}",
                        object_type="remediation_item",
                        object_id=item.id,
                        after=item.status.value,
                        detail={
                            "attempt": item.attempt_id,
                            "payment_intent": item.payment_intent_id,
                        },
                        reason=item.explanation,
                    )
            await uow.commit()
        return len(opened) + len(settled)
