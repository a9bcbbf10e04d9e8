"""PaymentIntent use cases: create, update, confirm, capture, cancel, retrieve, list, expire.

Each mutating use case is a `prepare` step that AttemptRunner runs in the transaction claiming
the idempotency key; when it needs the PSP it returns an attempt for the runner to send.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from payplane.domain.attempt import Attempt, AttemptKind, AttemptStatus
from payplane.domain.errors import InvalidRequest, UnexpectedState
from payplane.domain.ids import new_id
from payplane.domain.money import check_amount, normalize_currency
from payplane.domain.payment_intent import AUTOMATIC, CaptureMethod, PaymentIntent, Status
from payplane.domain.payment_method import CARD, type_of
from payplane.services import orchestrator
from payplane.services.idempotency import RequestShape
from payplane.services.payment_methods import PaymentMethodService
from payplane.services.ports import ListQuery, Page, RequestContext, UnitOfWork
from payplane.services.responses import Response
from payplane.services.runner import AttemptRunner


@dataclass(frozen=True, slots=True)
class CreateParams:
    amount: int
    currency: str
    capture_method: CaptureMethod = CaptureMethod.AUTOMATIC
    confirm: bool = False
    payment_method: str | None = None
    payment_method_types: list[str] | None = None
    return_url: str | None = None
    customer: str | None = None
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


class PaymentIntentService:
    def __init__(
        self,
        runner: AttemptRunner,
        payment_methods: PaymentMethodService,
        *,
        return_base_url: str,
    ) -> None:
        self._runner = runner
        self._payment_methods = payment_methods
        self._uow = runner.uow
        self._clock = runner.clock
        self._connectors = runner.connectors
        # The PSP sends customers back to <return_base_url>/<attempt id> (api/redirects.py).
        self._return_base_url = return_base_url.rstrip("/")

    # -- reads ------------------------------------------------------------------------------

    async def retrieve(self, ctx: RequestContext, intent_id: str) -> dict[str, Any]:
        async with self._uow() as uow:
            intent = await uow.intents.get(ctx.merchant_id, intent_id)
        return intent.as_stripe_object()

    async def list(self, ctx: RequestContext, query: ListQuery) -> Page:
        async with self._uow() as uow:
            return await uow.intents.list(ctx.merchant_id, query)

    # -- writes -----------------------------------------------------------------------------

    async def create(
        self, ctx: RequestContext, shape: RequestShape, params: CreateParams
    ) -> Response:
        if params.payment_method is not None:
            await self._payment_methods.check_usable(ctx, params.payment_method)

        async def prepare(uow: UnitOfWork) -> Response | Attempt:
            intent_id = new_id("pi")
            method_types = params.payment_method_types or [CARD]
            intent = PaymentIntent(
                id=intent_id,
                merchant_id=ctx.merchant_id,
                amount=check_amount(params.amount),
                currency=normalize_currency(params.currency),
                status=(
                    Status.REQUIRES_CONFIRMATION
                    if params.payment_method
                    else Status.REQUIRES_PAYMENT_METHOD
                ),
                capture_method=params.capture_method,
                created=self._clock.now(),
                payment_method=params.payment_method,
                customer=params.customer,
                description=params.description,
                metadata=dict(params.metadata),
                payment_method_types=method_types,
                client_secret=f"{intent_id}_secret_{secrets.token_urlsafe(18)}",
                return_url=params.return_url,
                events=["payment_intent.created"],
            )
            self._connectors.check_types(method_types, intent.currency, intent.capture_method)
            await uow.intents.add(intent)
            await orchestrator.record_events(uow, ctx, intent)
            await uow.audit.record(
                ctx,
                "payment_intent.create",
                object_type="payment_intent",
                object_id=intent.id,
                after=intent.status.value,
                detail={"amount": intent.amount, "currency": intent.currency},
            )
            if params.confirm:
                return await self._begin_confirmation(uow, ctx, intent)
            return Response(200, intent.as_stripe_object())

        return await self._runner.execute(ctx, shape, prepare)

    async def update(
        self, ctx: RequestContext, shape: RequestShape, intent_id: str, changes: dict[str, Any]
    ) -> Response:
        if changes.get("payment_method") is not None:
            await self._payment_methods.check_usable(ctx, changes["payment_method"])

        async def prepare(uow: UnitOfWork) -> Response | Attempt:
            intent = await uow.intents.get(ctx.merchant_id, intent_id, lock=True)
            before = intent.status
            if "amount" in changes:
                check_amount(changes["amount"])
            if "currency" in changes:
                changes["currency"] = normalize_currency(changes["currency"])
            intent.update(changes)
            self._connectors.check_types(
                intent.payment_method_types, intent.currency, intent.capture_method
            )
            await uow.intents.save(intent)
            await uow.audit.record(
                ctx,
                "payment_intent.update",
                object_type="payment_intent",
                object_id=intent.id,
                before=before.value,
                after=intent.status.value,
                detail={"fields": sorted(changes)},
            )
            return Response(200, intent.as_stripe_object())

        return await self._runner.execute(ctx, shape, prepare)

    async def confirm(
        self,
        ctx: RequestContext,
        shape: RequestShape,
        intent_id: str,
        payment_method: str | None,
        return_url: str | None = None,
    ) -> Response:
        if payment_method is not None:
            await self._payment_methods.check_usable(ctx, payment_method)

        async def prepare(uow: UnitOfWork) -> Response | Attempt:
            intent = await uow.intents.get(ctx.merchant_id, intent_id, lock=True)
            if payment_method is not None:
                intent.update({"payment_method": payment_method})
            if return_url is not None:
                intent.return_url = return_url
            return await self._begin_confirmation(uow, ctx, intent)

        return await self._runner.execute(ctx, shape, prepare)

    async def capture(
        self, ctx: RequestContext, shape: RequestShape, intent_id: str, amount: int | None
    ) -> Response:
        async def prepare(uow: UnitOfWork) -> Response | Attempt:
            intent = await uow.intents.get(ctx.merchant_id, intent_id, lock=True)
            to_capture = intent.check_capture(amount)
            return await self._new_attempt(
                uow, ctx, intent, AttemptKind.CAPTURE, to_capture, reason=None
            )

        return await self._runner.execute(ctx, shape, prepare)

    async def cancel(
        self, ctx: RequestContext, shape: RequestShape, intent_id: str, reason: str | None
    ) -> Response:
        async def prepare(uow: UnitOfWork) -> Response | Attempt:
            intent = await uow.intents.get(ctx.merchant_id, intent_id, lock=True)
            intent.check_cancel()
            if intent.status in (Status.REQUIRES_CAPTURE, Status.REQUIRES_ACTION):
                # The hold (or the authorization the customer may still approve) lives at the
                # PSP: void it there before the intent says canceled.
                amount = intent.amount_capturable or intent.amount
                return await self._new_attempt(
                    uow, ctx, intent, AttemptKind.VOID, amount, reason=reason
                )
            before = intent.status
            intent.canceled(reason, self._clock.now())
            await uow.intents.save(intent)
            await orchestrator.record_events(uow, ctx, intent)
            await uow.audit.record(
                ctx,
                "payment_intent.cancel",
                object_type="payment_intent",
                object_id=intent.id,
                before=before.value,
                after=intent.status.value,
                detail={"reason": reason},
            )
            return Response(200, intent.as_stripe_object())

        return await self._runner.execute(ctx, shape, prepare)

    # -- background ---------------------------------------------------------------------

    async def expire_authorizations(self, *, limit: int) -> int:
        """Void authorizations nobody captured in time (cancellation_reason automatic)."""
        async with self._uow() as uow:
            expired = []
            for intent in await uow.intents.expiring(now=self._clock.now(), limit=limit):
                if any(a.status.is_open for a in await uow.attempts.for_intent(intent.id)):
                    continue  # a capture or cancel is in flight: let it finish first
                ctx = RequestContext(intent.merchant_id, "system:expiry", new_id("req"))
                attempt = await self._new_attempt(
                    uow, ctx, intent, AttemptKind.VOID, intent.amount_capturable, reason=AUTOMATIC
                )
                expired.append((ctx, attempt))
            await uow.commit()
        for ctx, attempt in expired:
            await self._runner.complete(ctx, attempt)
        return len(expired)

    # -- phases -----------------------------------------------------------------------------

    async def _begin_confirmation(
        self, uow: UnitOfWork, ctx: RequestContext, intent: PaymentIntent
    ) -> Attempt:
        before = intent.status
        intent.begin_confirmation()
        assert intent.payment_method is not None
        method_type = type_of(intent.payment_method)
        if method_type not in intent.payment_method_types:
            raise InvalidRequest(
                f"The PaymentMethod {intent.payment_method} is of type {method_type}, which is "
                "not in this PaymentIntent's payment_method_types "
                f"({', '.join(intent.payment_method_types)}).",
                code="payment_intent_incompatible_payment_method",
                param="payment_method",
            )
        connector = self._connectors.for_method(method_type)
        rules = connector.methods[method_type]
        rules.check_intent(method_type, intent.currency, intent.capture_method)
        rules.check_confirmation(method_type, intent.return_url)
        intent.connector = connector.name
        attempt_id = new_id("att")
        attempt = Attempt(
            id=attempt_id,
            payment_intent_id=intent.id,
            merchant_id=intent.merchant_id,
            kind=AttemptKind.AUTHORIZE,
            status=AttemptStatus.PENDING,
            connector=connector.name,
            psp_idempotency_key=attempt_id,
            amount=intent.amount,
            currency=intent.currency,
            payment_method=intent.payment_method,
            capture=intent.capture_method is CaptureMethod.AUTOMATIC,
            charge_id=new_id("ch"),
            return_url=f"{self._return_base_url}/{attempt_id}",
        )
        await uow.attempts.add(attempt)
        await uow.intents.save(intent)
        await orchestrator.record_events(uow, ctx, intent)
        await uow.audit.record(
            ctx,
            "payment_intent.confirm",
            object_type="payment_intent",
            object_id=intent.id,
            before=before.value,
            after=intent.status.value,
            detail={"attempt": attempt.id},
        )
        return attempt

    async def _new_attempt(
        self,
        uow: UnitOfWork,
        ctx: RequestContext,
        intent: PaymentIntent,
        kind: AttemptKind,
        amount: int,
        *,
        reason: str | None,
    ) -> Attempt:
        attempts = await uow.attempts.for_intent(intent.id)
        # A cancel may go out while the customer is still on the PSP's page: it targets the
        # authorization waiting for them. Anything else waits for calls in flight to settle.
        waiting = intent.status is Status.REQUIRES_ACTION
        if any(
            a.status.is_open and not (waiting and a.status is AttemptStatus.REQUIRES_ACTION)
            for a in attempts
        ):
            raise UnexpectedState(
                "Another operation on this PaymentIntent is still in progress with the payment "
                "processor. Retrieve the PaymentIntent and try again once it has settled."
            )
        target = AttemptStatus.REQUIRES_ACTION if waiting else AttemptStatus.SUCCEEDED
        authorization = next(
            a for a in reversed(attempts) if a.kind is AttemptKind.AUTHORIZE and a.status is target
        )
        attempt_id = new_id("att")
        attempt = Attempt(
            id=attempt_id,
            payment_intent_id=intent.id,
            merchant_id=intent.merchant_id,
            kind=kind,
            status=AttemptStatus.PENDING,
            connector=authorization.connector,
            psp_idempotency_key=attempt_id,
            amount=amount,
            currency=intent.currency,
            reason=reason,
            psp_reference=authorization.psp_reference,
        )
        await uow.attempts.add(attempt)
        await uow.audit.record(
            ctx,
            f"payment_intent.{kind.value}",
            object_type="payment_intent",
            object_id=intent.id,
            before=intent.status.value,
            after=intent.status.value,
            detail={"attempt": attempt.id, "amount": amount, "reason": reason},
        )
        return attempt
