"""Ports of the PSP webhook inbox: the inbox table and each connector's webhook format.

Kept apart from services/ports.py (which the UnitOfWork port ties together) so each stays small.
A connector's webhooks are verified and read behind `PspEventParser`; what comes out is a
connector-neutral instruction the inbox processor applies through the ordinary apply paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:  # ports.py imports this module for the UnitOfWork port
    from payplane.services.ports import PspDispute, PspResult


@dataclass(frozen=True, slots=True)
class InboxEvent:
    """A stored PSP webhook, as the processor claims it."""

    id: int
    connector: str
    psp_event_id: str
    event_type: str
    raw_body: bytes
    attempts: int  # tries that found it not yet applicable (or failed)


class Inbox(Protocol):
    async def add(
        self,
        connector: str,
        psp_event_id: str,
        event_type: str,
        raw_body: bytes,
        headers: Mapping[str, str],
    ) -> bool:
        """Store a verified event; False (and nothing written) if its id is already stored."""
        ...

    async def claim_due(self, *, limit: int, lease_seconds: float) -> list[InboxEvent]:
        """Pending events due now, leased to this caller (SKIP LOCKED, due time pushed out)."""
        ...

    async def lock(self, inbox_id: int) -> InboxEvent | None:
        """The event locked for this transaction if still pending, else None."""
        ...

    async def mark_processed(self, inbox_id: int) -> None: ...
    async def retry_later(self, inbox_id: int, *, delay_seconds: float, error: str) -> None:
        """Count a try and make it due again after the delay."""
        ...

    async def park(self, inbox_id: int, *, error: str) -> None:
        """Count a try and stop: parked events wait for an operator."""
        ...


@dataclass(frozen=True, slots=True)
class WebhookEnvelope:
    """What the endpoint stores of a verified webhook before anything else is read."""

    event_id: str
    event_type: str


@dataclass(frozen=True, slots=True)
class OperationNews:
    """The PSP's word on one of our calls, found by the idempotency key we sent it with.

    `result` is what the call itself would have answered (the connector's one mapping);
    `subject` says which kind of object it is about, so it is never applied to another kind.
    """

    idempotency_key: str
    subject: Literal["authorization", "refund"]
    result: PspResult
    # The connector that made the call, when one PSP's webhooks speak for several connectors.
    connector: str | None = None


@dataclass(frozen=True, slots=True)
class DisputeNews:
    dispute: PspDispute


@dataclass(frozen=True, slots=True)
class NoAction:
    """An event Payplane does not act on (unknown type, or one it cannot trust); why, for logs."""

    reason: str


PspInstruction = OperationNews | DisputeNews | NoAction


class WebhookRejected(Exception):
    """The webhook is not authentic or not fresh: answer 400 and store nothing."""


class PspEventParser(Protocol):
    """One connector's webhooks: how they are signed and what they mean."""

    name: str

    def verify(self, raw_body: bytes, headers: Mapping[str, str]) -> WebhookEnvelope:
        """Check signature and timestamp over the raw body, then read id and type.

        Raises WebhookRejected; nothing of the body is trusted before it passes."""
        ...

    def parse(self, event_type: str, raw_body: bytes) -> PspInstruction:
        """Turn a verified, stored event into an instruction; ValueError if malformed."""
        ...
