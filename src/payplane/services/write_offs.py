"""Remediation write-offs under maker-checker: asked for by an operator or a restricted key, a
write-off is held as an approval request; once another operator approves it, the remediation
use case runs it like any other action."""

from __future__ import annotations

from typing import Any

from payplane.domain.approval import REMEDIATION_WRITE_OFF
from payplane.domain.remediation import Action
from payplane.services import approvals
from payplane.services.idempotency import RequestShape
from payplane.services.ports import RequestContext, UnitOfWork
from payplane.services.remediation import ActionParams, RemediationService
from payplane.services.responses import Response
from payplane.services.runner import AttemptRunner


class WriteOffs:
    def __init__(self, runner: AttemptRunner, remediation: RemediationService) -> None:
        self._runner = runner
        self._remediation = remediation

    async def request(
        self,
        ctx: RequestContext,
        shape: RequestShape,
        item_id: str,
        reason: str,
        *,
        maker_checker: bool,
    ) -> Response:
        if not maker_checker:
            params = ActionParams(reason=reason)
            return await self._remediation.act(ctx, shape, item_id, Action.WRITE_OFF, params)
        await self._remediation.retrieve(item_id)  # an unknown item is refused now

        async def prepare(uow: UnitOfWork) -> Response:
            held = {"item": item_id, "reason": reason}
            now = self._runner.clock.now()
            return await approvals.open_request(uow, ctx, now, REMEDIATION_WRITE_OFF, held)

        return await self._runner.execute(ctx, shape, prepare)

    async def run_approved(
        self, ctx: RequestContext, shape: RequestShape, params: dict[str, Any]
    ) -> Response:
        """The write-off an approval request held, now approved (its ApprovedAction)."""
        action = ActionParams(reason=params["reason"])
        return await self._remediation.act(ctx, shape, params["item"], Action.WRITE_OFF, action)
