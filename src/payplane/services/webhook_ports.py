"""Ports of merchant webhooks: endpoint and delivery storage, the HTTP sender, the event feed.

Kept apart from services/ports.py (which the UnitOfWork port ties together) so each stays small.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # ports.py imports this module for the UnitOfWork port
    from payplane.services.ports import ListQuery, Page


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A delivery claimed (leased) by one dispatcher, with what sending it needs."""

    id: int
    event_id: str
    endpoint_id: str
    merchant_id: str
    url: str
    secret: str
    attempts: int  # attempts made before this one
    created_at: float  # unix seconds; the retry window runs from here
    body: bytes  # the Stripe event JSON, exactly as signed and sent


@dataclass(frozen=True, slots=True)
class SendResult:
    succeeded: bool
    latency_ms: int
    status_code: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """An attempt and what follows: succeeded, retry in `retry_in` seconds, or (None) failed."""

    delivery_id: int
    result: SendResult
    retry_in: float | None = None


@dataclass(frozen=True, slots=True)
class EndpointChanges:
    url: str | None = None
    enabled_events: list[str] | None = None
    description: str | None = None
    metadata: dict[str, str] | None = None  # already merged with the stored metadata
    disabled: bool | None = None
    fields: list[str] = field(default_factory=list)


class WebhookStore(Protocol):
    """Endpoints (returned as Stripe webhook_endpoint objects, secret only when asked) and their
    deliveries with every attempt."""

    async def add_endpoint(self, endpoint: dict[str, Any]) -> None: ...
    async def get_endpoint(
        self, merchant_id: str, endpoint_id: str, *, lock: bool = False
    ) -> dict[str, Any]:
        """Raises ResourceMissing for an unknown, deleted or another merchant's endpoint."""
        ...

    async def update_endpoint(
        self, merchant_id: str, endpoint_id: str, changes: EndpointChanges
    ) -> dict[str, Any]: ...
    async def delete_endpoint(self, merchant_id: str, endpoint_id: str) -> None: ...
    async def list_endpoints(self, merchant_id: str, query: ListQuery) -> Page: ...

    async def fan_out(self, event_ids: list[str]) -> int:
        """A pending delivery per (event, matching enabled endpoint) not already there."""
        ...

    async def claim_due(
        self, *, limit: int, lease_seconds: float, room: dict[str, int], per_endpoint: int
    ) -> list[DueDelivery]:
        """Lock (SKIP LOCKED) and lease up to `limit` due deliveries to enabled endpoints, at
        most room.get(endpoint, per_endpoint) per endpoint; endpoints with no room are skipped."""
        ...

    async def record(self, outcomes: list[Outcome]) -> list[int]:
        """Store the attempts and move their (still pending) deliveries on; the ids of those
        that failed for good."""
        ...

    async def succeeded_since(self, endpoint_id: str, since: float) -> bool:
        """Whether any delivery to the endpoint succeeded at or after `since` (unix seconds)."""
        ...

    async def disable_endpoint(self, endpoint_id: str, reason: str) -> dict[str, Any] | None:
        """Disable an enabled endpoint; its object (no secret), or None if it was not enabled."""
        ...

    async def resend(self, merchant_id: str, endpoint_id: str, event_id: str) -> dict[str, Any]:
        """(Re)schedule the event's delivery to the endpoint now; the webhook_delivery object."""
        ...

    async def deliveries(self, merchant_id: str, endpoint_id: str, query: ListQuery) -> Page: ...


class WebhookSender(Protocol):
    async def send(self, url: str, secret: str, body: bytes) -> SendResult:
        """POST the signed body; never raises for what the endpoint or network does."""
        ...

    async def aclose(self) -> None: ...


class FeedMessage(Protocol):
    @property
    def event_id(self) -> str: ...
    async def ack(self) -> None: ...
    async def nak(self) -> None: ...


class EventFeed(Protocol):
    """Published events, each handed out until acknowledged (at least once)."""

    async def fetch(self, batch: int, wait_seconds: float) -> list[FeedMessage]:
        """Up to `batch` messages; [] if none came within `wait_seconds`."""
        ...
