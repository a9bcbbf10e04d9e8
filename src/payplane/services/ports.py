"""Ports: what the use cases need from the outside world, as Protocols.

Adapters implement them (adapters/db, adapters/psp); only the process edges choose which.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import Any, Protocol, Self

from payplane.domain.attempt import Attempt
from payplane.domain.dispute import Dispute
from payplane.domain.ledger import Hold, Journal
from payplane.domain.payment_intent import PaymentIntent
from payplane.domain.payment_method import MethodRules
from payplane.domain.refund import Refund
from payplane.services.access_ports import ApprovalRequests, Operators, RestrictedKeys
from payplane.services.inbox_ports import Inbox
from payplane.services.payment_method_ports import PublishableKeys, SavedCards
from payplane.services.reconciliation_ports import Reconciliations, RemediationItems
from payplane.services.webhook_ports import WebhookStore


@dataclass(frozen=True, slots=True)
class Page:
    data: list[dict[str, Any]]
    has_more: bool


@dataclass(frozen=True, slots=True)
class ListQuery:
    limit: int = 10
    starting_after: str | None = None
    ending_before: str | None = None
    created: dict[str, int] = field(default_factory=dict)  # gt, gte, lt, lte
    filters: dict[str, str] = field(default_factory=dict)


class PaymentIntents(Protocol):
    async def add(self, intent: PaymentIntent) -> None: ...
    async def get(
        self, merchant_id: str | None, intent_id: str, *, lock: bool = False
    ) -> PaymentIntent:
        """merchant_id None is the operator's view across merchants; the API always passes one."""
        ...

    async def save(self, intent: PaymentIntent) -> None: ...
    async def expiring(self, *, now: int, limit: int) -> list[PaymentIntent]:
        """Authorizations past capture_before, locked (SKIP LOCKED) for this caller."""
        ...

    async def list(self, merchant_id: str, query: ListQuery) -> Page: ...


class Refunds(Protocol):
    async def add(self, refund: Refund) -> None: ...
    async def get(
        self, merchant_id: str | None, refund_id: str, *, lock: bool = False
    ) -> Refund: ...
    async def save(self, refund: Refund) -> None: ...
    async def for_intent(self, intent_id: str) -> list[Refund]: ...
    async def pending_due(self, *, limit: int) -> list[Refund]:
        """Pending refunds the PSP has accepted, due for a status check; claimed with backoff."""
        ...

    async def list(self, merchant_id: str, query: ListQuery) -> Page: ...


class Disputes(Protocol):
    async def add(self, dispute: Dispute) -> None: ...
    async def get(self, merchant_id: str, dispute_id: str, *, lock: bool = False) -> Dispute: ...
    async def find_by_psp_id(
        self, connector: str, psp_dispute_id: str, *, lock: bool = False
    ) -> Dispute | None: ...
    async def save(self, dispute: Dispute) -> None: ...
    async def list(self, merchant_id: str, query: ListQuery) -> Page: ...


class Cursors(Protocol):
    """Positions in PSP feeds (e.g. disputes changed since N), advanced after processing."""

    async def get(self, connector: str, feed: str) -> int: ...
    async def advance(self, connector: str, feed: str, position: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Waiting:
    attempt: Attempt
    expired: bool


class Attempts(Protocol):
    async def add(self, attempt: Attempt) -> None: ...
    async def get(self, attempt_id: str, *, lock: bool = False) -> Attempt: ...
    async def save(self, attempt: Attempt) -> None: ...
    async def for_intent(self, intent_id: str) -> list[Attempt]: ...
    async def due(self, *, limit: int, min_age_seconds: float) -> list[Attempt]:
        """Open attempts old enough to ask the PSP about, locked (SKIP LOCKED) for this caller."""
        ...

    async def waiting_due(self, *, limit: int, action_expiry_seconds: float) -> list[Waiting]:
        """Attempts waiting on the customer or the PSP whose next status check is due, claimed
        with backoff (SKIP LOCKED); `expired` when a customer action ran out of time."""
        ...

    async def find_by_psp_key(self, connector: str, key: str) -> Attempt | None: ...


class Ledger(Protocol):
    async def post(self, journal: Journal) -> str: ...
    async def open_hold(self, intent_id: str) -> Hold | None: ...
    async def entries_for(self, intent_id: str) -> list[dict[str, Any]]: ...


class Balances(Protocol):
    """A merchant's money as the ledger's account sums tell it, and its accounts' entries."""

    async def pending(self, merchant_id: str) -> dict[str, int]:
        """Per currency: payable net less fees, for every currency with such an account."""
        ...

    async def accounts(self, merchant_id: str, query: ListQuery) -> Page: ...
    async def entries(self, merchant_id: str, account_id: str, query: ListQuery) -> Page:
        """Raises ResourceMissing (param "account") for an unknown or another merchant's account."""
        ...


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who asked, and under which request and idempotency key: stamped on events and audit rows."""

    merchant_id: str
    actor: str
    request_id: str
    idempotency_key: str | None = None


class Outbox(Protocol):
    async def append(
        self,
        ctx: RequestContext,
        event_type: str,
        data: dict[str, Any],
        *,
        payment_intent_id: str | None,
    ) -> None:
        """Record an event about data["id"], filed under the payment it belongs to."""
        ...

    async def get(self, merchant_id: str, event_id: str) -> dict[str, Any]: ...
    async def for_payment(self, intent_id: str) -> list[dict[str, Any]]: ...
    async def list(self, merchant_id: str, query: ListQuery) -> Page: ...


class AuditTrail(Protocol):
    """Append-only and hash-chained off the hot path (see adapters/db/audit_chain.py)."""

    async def record(
        self,
        ctx: RequestContext,
        action: str,
        *,
        object_type: str | None = None,
        object_id: str | None = None,
        before: str | None = None,
        after: str | None = None,
        detail: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        """ctx names the actor and request; reason is why (an operator's words, a denial)."""
        ...

    async def for_object(self, object_id: str) -> list[dict[str, Any]]: ...


class ClaimState(StrEnum):
    NEW = "new"  # first use of the key: run the request
    RESUME = "resume"  # a previous run died after a recovery point: continue from it
    REPLAY = "replay"  # finished before: return the stored response
    IN_USE = "in_use"  # another request holds the key right now
    MISMATCH = "mismatch"  # same key, other parameters


@dataclass(frozen=True, slots=True)
class Claim:
    state: ClaimState
    recovery_point: str = "started"
    attempt_id: str | None = None
    response_status: int | None = None
    response_body: dict[str, Any] | None = None


class IdempotencyKeys(Protocol):
    async def claim(
        self,
        ctx: RequestContext,
        *,
        method: str,
        path: str,
        fingerprint: str,
        lock_seconds: float,
    ) -> Claim: ...
    async def checkpoint(self, ctx: RequestContext, point: str, attempt_id: str) -> None: ...
    async def finish(self, ctx: RequestContext, status: int, body: dict[str, Any]) -> None: ...
    async def purge(self, *, older_than_days: int, limit: int) -> int:
        """Delete keys past their retention; returns how many."""
        ...

    async def release(self, ctx: RequestContext) -> None:
        """Unlock without a stored response: a retry resumes from the recovery point."""
        ...


class UnitOfWork(Protocol):
    """One database transaction. Leaving the block without commit() rolls back."""

    intents: PaymentIntents
    attempts: Attempts
    refunds: Refunds
    disputes: Disputes
    cursors: Cursors
    ledger: Ledger
    balances: Balances
    outbox: Outbox
    audit: AuditTrail
    idempotency: IdempotencyKeys
    webhooks: WebhookStore
    inbox: Inbox
    restricted_keys: RestrictedKeys
    operators: Operators
    approvals: ApprovalRequests
    reconciliation: Reconciliations
    remediation: RemediationItems
    saved_cards: SavedCards
    publishable_keys: PublishableKeys

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


class PspOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    NOT_APPLIED = "not_applied"  # the PSP refused before doing anything: safe to try again
    UNKNOWN = "unknown"  # sent without an answer: never assume either way
    ACTION_REQUIRED = "action_required"  # the customer must act on the PSP's page (redirect_url)
    PENDING = "pending"  # accepted; the PSP reports the result later


@dataclass(frozen=True, slots=True)
class PspResult:
    outcome: PspOutcome
    psp_reference: str | None = None
    decline_code: str | None = None
    error_code: str | None = None
    message: str | None = None
    status: str | None = None  # the PSP object's own status, e.g. a refund's "pending"
    failure_reason: str | None = None
    redirect_url: str | None = None  # with ACTION_REQUIRED: the PSP's hosted page
    error_type: str = "card_error"  # Stripe's last_payment_error.type for a decline


@dataclass(frozen=True, slots=True)
class PspDispute:
    """A dispute as the PSP reports it; change_seq orders its changes."""

    psp_id: str
    merchant_reference: str
    amount: int
    currency: str
    fee: int
    reason: str
    status: str
    evidence: dict[str, str]
    evidence_submitted: bool
    evidence_due_by: int | None
    created: int
    change_seq: int


@dataclass(frozen=True, slots=True)
class DisputeFeed:
    disputes: list[PspDispute]
    has_more: bool


class PspConnector(Protocol):
    """The one port to a PSP; method- and PSP-specific code lives only behind it."""

    @property
    def name(self) -> str: ...
    @property
    def methods(self) -> Mapping[str, MethodRules]:
        """The payment method types it serves, and their rules."""
        ...

    async def authorize(
        self,
        *,
        idempotency_key: str,
        merchant_id: str,
        amount: int,
        currency: str,
        payment_method: str,
        merchant_reference: str,
        capture: bool,
        return_url: str | None,
    ) -> PspResult:
        """return_url: where the PSP's page sends the customer back (redirect methods);
        merchant_id: whose saved card a vault token is."""
        ...

    async def authorization_status(self, psp_reference: str) -> PspResult:
        """Where an authorization stands now, for the authorize call that made it."""
        ...

    async def expire_action(self, *, idempotency_key: str, psp_reference: str) -> PspResult:
        """Close a customer action that ran out of time; answers the authorization's state."""
        ...

    async def capture(
        self, *, idempotency_key: str, psp_reference: str, amount: int
    ) -> PspResult: ...
    async def void(self, *, idempotency_key: str, psp_reference: str) -> PspResult: ...
    async def refund(
        self, *, idempotency_key: str, psp_reference: str, amount: int
    ) -> PspResult: ...
    async def refund_status(self, psp_refund_id: str) -> PspResult: ...
    async def cancel_refund(self, *, idempotency_key: str, psp_refund_id: str) -> PspResult: ...
    async def disputes_changed(self, *, after: int, limit: int) -> DisputeFeed: ...
    async def submit_dispute_evidence(
        self, *, idempotency_key: str, psp_dispute_id: str, evidence: dict[str, str], submit: bool
    ) -> PspDispute: ...
    async def close_dispute(self, *, idempotency_key: str, psp_dispute_id: str) -> PspDispute: ...
    async def lookup(self, idempotency_key: str) -> PspResult:
        """What became of the operation sent with this key (UNKNOWN if the PSP cannot say)."""
        ...


class Clock(Protocol):
    def now(self) -> int:
        """Unix seconds."""
        ...
