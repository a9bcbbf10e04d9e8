"""PSP webhooks: received into the inbox fast, applied later by the processor, at least once.

`receive` is all the endpoint does: verify (behind the connector's PspEventParser), store the raw
event unless its id is already stored, commit. Nothing else, so the PSP hears 2xx in milliseconds.

`InboxProcessor` applies stored events, each in one transaction with marking it processed, so a
crash between the two re-applies it, harmlessly: every effect goes through the same idempotent
path as the synchronous answer (orchestrator.apply_result, a no-op once the attempt is closed;
refund_outcomes.settle and dispute changes, which only ever move forwards), with the payment's row
locked first as every writer of a payment does. An event about something Payplane does not know
(yet: the webhook can overtake our own commit) is retried with backoff, then parked for review.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from payplane.domain.attempt import AttemptKind
from payplane.domain.errors import InvalidRequest, ResourceMissing
from payplane.domain.ids import new_id
from payplane.domain.refund import RefundStatus
from payplane.services import dispute_changes, orchestrator, refund_outcomes
from payplane.services.inbox_ports import (
    DisputeNews,
    InboxEvent,
    NoAction,
    OperationNews,
    PspEventParser,
    WebhookRejected,
)
from payplane.services.ports import Clock, RequestContext, UnitOfWork, UnitOfWorkFactory

log = structlog.get_logger()

ACTOR = "system:psp_webhook"
LEASE_SECONDS = 30.0  # a claimed event comes due again after this if its processor died
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 60.0
# Headers kept with the raw body: what the signature was checked with, nothing else.
_KEPT_HEADERS = ("content-type", "webhook-id", "webhook-timestamp", "webhook-signature")
_SUBJECT_KINDS = {
    "authorization": {AttemptKind.AUTHORIZE, AttemptKind.CAPTURE, AttemptKind.VOID},
    "refund": {AttemptKind.REFUND, AttemptKind.REFUND_CANCEL},
}


class NotYetApplicable(Exception):
    """The event is about a payment or call Payplane does not know, or not yet in that state."""


class Malformed(Exception):
    """Verified but unreadable: no retry can help."""


async def receive(
    uow: UnitOfWorkFactory,
    parsers: Mapping[str, PspEventParser],
    connector: str,
    raw_body: bytes,
    headers: Mapping[str, str],
) -> bool:
    """Verify and store one webhook; True if its event id was already stored (a replay)."""
    parser = parsers.get(connector)
    if parser is None:
        raise ResourceMissing("connector", connector, param="connector")
    try:
        envelope = parser.verify(raw_body, headers)
    except WebhookRejected as exc:
        raise InvalidRequest(str(exc), code="webhook_signature_invalid") from None
    given = {name.lower(): value for name, value in headers.items()}
    kept = {name: given[name] for name in _KEPT_HEADERS if name in given}
    async with uow() as tx:
        stored = await tx.inbox.add(
            connector, envelope.event_id, envelope.event_type, raw_body, kept
        )
        await tx.commit()
    return not stored


def retry_delay(tries: int) -> float:
    """Seconds before the next try, after `tries` tries found the event not yet applicable."""
    return min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2.0 ** max(0, tries - 1))


class InboxProcessor:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        parsers: Mapping[str, PspEventParser],
        clock: Clock,
        *,
        capture_window: int,
        max_attempts: int,
    ) -> None:
        self._uow = uow
        self._parsers = parsers
        self._clock = clock
        self._capture_window = capture_window
        self._max_attempts = max_attempts

    async def run_due(self, *, limit: int = 50) -> int:
        """Apply the events due now; returns how many were claimed."""
        async with self._uow() as uow:
            due = await uow.inbox.claim_due(limit=limit, lease_seconds=LEASE_SECONDS)
            await uow.commit()
        for event in due:
            await self.process(event)
        return len(due)

    async def process(self, event: InboxEvent) -> None:
        try:
            async with self._uow() as uow:
                if await uow.inbox.lock(event.id) is None:
                    return  # another processor finished it after our lease ran out
                await self._apply(uow, event)
                await uow.inbox.mark_processed(event.id)
                await uow.commit()
        except NotYetApplicable as exc:
            await self._not_applied(event, str(exc), retry=True)
        except Malformed as exc:
            await self._not_applied(event, str(exc), retry=False)
        except Exception as exc:
            log.exception("psp webhook failed", psp_event=event.psp_event_id, type=event.event_type)
            await self._not_applied(event, f"{type(exc).__name__}: {exc}", retry=True)

    async def _not_applied(self, event: InboxEvent, error: str, *, retry: bool) -> None:
        tries = event.attempts + 1
        async with self._uow() as uow:
            if retry and tries < self._max_attempts:
                await uow.inbox.retry_later(event.id, delay_seconds=retry_delay(tries), error=error)
            else:
                await uow.inbox.park(event.id, error=error)
                # Whose it is may be exactly what is unknown: no merchant on this row.
                ctx = RequestContext("", ACTOR, new_id("req"))
                await uow.audit.record(
                    ctx,
                    "psp_webhook.parked",
                    object_type="psp_event",
                    object_id=event.psp_event_id,
                    after="parked",
                    detail={
                        "connector": event.connector,
                        "type": event.event_type,
                        "tries": tries,
                        "error": error,
                    },
                )
                log.warning("psp webhook parked", psp_event=event.psp_event_id, error=error)
            await uow.commit()

    async def _apply(self, uow: UnitOfWork, event: InboxEvent) -> None:
        parser = self._parsers.get(event.connector)
        if parser is None:
            raise NotYetApplicable(f"no webhook parser for connector {event.connector}")
        try:
            instruction = parser.parse(event.event_type, event.raw_body)
        except ValueError as exc:
            raise Malformed(str(exc)) from None
        if isinstance(instruction, NoAction):
            log.info("psp webhook ignored", psp_event=event.psp_event_id, reason=instruction.reason)
        elif isinstance(instruction, DisputeNews):
            try:
                await dispute_changes.apply_change(
                    uow, event.connector, instruction.dispute, actor=ACTOR
                )
            except ResourceMissing:
                raise NotYetApplicable(
                    f"payment {instruction.dispute.merchant_reference} is not known"
                ) from None
        else:
            await self._operation(uow, event.connector, instruction)

    async def _operation(self, uow: UnitOfWork, connector: str, news: OperationNews) -> None:
        found = await uow.attempts.find_by_psp_key(
            news.connector or connector, news.idempotency_key
        )
        if found is None:
            raise NotYetApplicable(f"no call of ours was sent with key {news.idempotency_key}")
        if found.kind not in _SUBJECT_KINDS[news.subject]:
            log.warning("psp webhook about another kind of call", attempt=found.id)
            return
        ctx = RequestContext(found.merchant_id, ACTOR, new_id("req"))
        intent = await uow.intents.get(found.merchant_id, found.payment_intent_id, lock=True)
        attempt = await uow.attempts.get(found.id, lock=True)
        result = news.result
        if attempt.status.is_open:
            if attempt.kind is AttemptKind.REFUND and result.status == RefundStatus.FAILED.value:
                # A refused refund is never booked, a pending one that fails later is booked and
                # reversed: which one this is only the call's own answer can tell.
                raise NotYetApplicable("a refund failure ahead of the refund call's own answer")
            await orchestrator.apply_result(
                uow, ctx, self._clock, intent, attempt, result, capture_window=self._capture_window
            )
            return
        if attempt.refund_id is None or result.status is None:
            return  # the call's answer already arrived (synchronously or by the resolver)
        # A refund's later life: pending -> succeeded | failed | canceled, forwards only.
        status = RefundStatus(result.status)
        refund = await uow.refunds.get(None, attempt.refund_id, lock=True)
        if refund.can_move_to(status):
            await refund_outcomes.settle(uow, ctx, intent, refund, status, result.failure_reason)
