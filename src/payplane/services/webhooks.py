"""Webhook endpoint use cases: Stripe's /v1/webhook_endpoints, plus resend and deliveries.

Mutations run through AttemptRunner.execute like every POST, so they are idempotent under an
Idempotency-Key and audited; the secret is part of the create response only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from payplane.domain.ids import new_id
from payplane.domain.payment_intent import merge_metadata
from payplane.services.idempotency import RequestShape
from payplane.services.ports import ListQuery, Page, RequestContext, UnitOfWork
from payplane.services.responses import Response
from payplane.services.runner import AttemptRunner
from payplane.services.webhook_ports import EndpointChanges

DEFAULT_API_VERSION = "2024-06-20"

# The event types Payplane emits (and so the ones an endpoint may subscribe to), or "*".
EVENT_TYPES = frozenset(
    {
        "payment_intent.created",
        "payment_intent.processing",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
        "payment_intent.amount_capturable_updated",
        "payment_intent.requires_action",
        "charge.pending",
        "charge.succeeded",
        "charge.failed",
        "charge.captured",
        "charge.refunded",
        "refund.created",
        "refund.updated",
        "refund.failed",
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
        "payment_method.attached",
        "payment_method.detached",
        "webhook_endpoint.disabled",  # Payplane extension
    }
)


@dataclass(frozen=True, slots=True)
class EndpointParams:
    url: str
    enabled_events: list[str]
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    api_version: str | None = None


@dataclass(frozen=True, slots=True)
class EndpointUpdate:
    url: str | None = None
    enabled_events: list[str] | None = None
    description: str | None = None
    metadata: dict[str, str] | None = None  # {} unsets every key, as metadata="" does
    disabled: bool | None = None


class WebhookEndpointService:
    def __init__(self, runner: AttemptRunner) -> None:
        self._runner = runner
        self._uow = runner.uow

    async def retrieve(self, ctx: RequestContext, endpoint_id: str) -> dict[str, Any]:
        async with self._uow() as uow:
            return await uow.webhooks.get_endpoint(ctx.merchant_id, endpoint_id)

    async def list(self, ctx: RequestContext, query: ListQuery) -> Page:
        async with self._uow() as uow:
            return await uow.webhooks.list_endpoints(ctx.merchant_id, query)

    async def deliveries(self, ctx: RequestContext, endpoint_id: str, query: ListQuery) -> Page:
        async with self._uow() as uow:
            return await uow.webhooks.deliveries(ctx.merchant_id, endpoint_id, query)

    async def create(
        self, ctx: RequestContext, shape: RequestShape, params: EndpointParams
    ) -> Response:
        async def prepare(uow: UnitOfWork) -> Response:
            endpoint: dict[str, Any] = {
                "id": new_id("we"),
                "merchant_id": ctx.merchant_id,
                "url": params.url,
                "enabled_events": _dedup(params.enabled_events),
                "description": params.description,
                "metadata": dict(params.metadata),
                "secret": new_id("whsec", 32),
                "api_version": params.api_version or DEFAULT_API_VERSION,
                "created": self._runner.clock.now(),
            }
            await uow.webhooks.add_endpoint(endpoint)
            await _audit(uow, ctx, "webhook_endpoint.create", endpoint["id"], {"url": params.url})
            created = await uow.webhooks.get_endpoint(ctx.merchant_id, endpoint["id"])
            return Response(200, {**created, "secret": endpoint["secret"]})

        return await self._runner.execute(ctx, shape, prepare)

    async def update(
        self, ctx: RequestContext, shape: RequestShape, endpoint_id: str, update: EndpointUpdate
    ) -> Response:
        async def prepare(uow: UnitOfWork) -> Response:
            current = await uow.webhooks.get_endpoint(ctx.merchant_id, endpoint_id, lock=True)
            metadata = update.metadata
            if metadata:
                metadata = merge_metadata(current["metadata"], metadata)
            changes = EndpointChanges(
                url=update.url,
                enabled_events=_dedup(update.enabled_events) if update.enabled_events else None,
                description=update.description,
                metadata=metadata,
                disabled=update.disabled,
            )
            endpoint = await uow.webhooks.update_endpoint(ctx.merchant_id, endpoint_id, changes)
            changed = [f.name for f in fields(update) if getattr(update, f.name) is not None]
            await _audit(uow, ctx, "webhook_endpoint.update", endpoint_id, {"fields": changed})
            return Response(200, endpoint)

        return await self._runner.execute(ctx, shape, prepare)

    async def delete(self, ctx: RequestContext, shape: RequestShape, endpoint_id: str) -> Response:
        async def prepare(uow: UnitOfWork) -> Response:
            await uow.webhooks.delete_endpoint(ctx.merchant_id, endpoint_id)
            await _audit(uow, ctx, "webhook_endpoint.delete", endpoint_id, {})
            return Response(200, {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True})

        return await self._runner.execute(ctx, shape, prepare)

    async def resend(
        self, ctx: RequestContext, shape: RequestShape, endpoint_id: str, event_id: str
    ) -> Response:
        async def prepare(uow: UnitOfWork) -> Response:
            delivery = await uow.webhooks.resend(ctx.merchant_id, endpoint_id, event_id)
            await _audit(uow, ctx, "webhook_endpoint.resend", endpoint_id, {"event": event_id})
            return Response(200, delivery)

        return await self._runner.execute(ctx, shape, prepare)


def _dedup(types: list[str]) -> list[str]:
    return list(dict.fromkeys(types))


async def _audit(
    uow: UnitOfWork, ctx: RequestContext, action: str, endpoint_id: str, detail: dict[str, Any]
) -> None:
    await uow.audit.record(
        ctx, action, object_type="webhook_endpoint", object_id=endpoint_id, detail=detail
    )
