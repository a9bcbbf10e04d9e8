"""One database transaction with every repository bound to it (the UnitOfWork port)."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import psycopg
from psycopg_pool import AsyncConnectionPool

from payplane.adapters.db.approvals import PgApprovalRequests
from payplane.adapters.db.attempts import PgAttempts
from payplane.adapters.db.audit import PgAuditTrail
from payplane.adapters.db.balances import PgBalances
from payplane.adapters.db.credentials import PgOperators, PgRestrictedKeys
from payplane.adapters.db.disputes import PgCursors, PgDisputes
from payplane.adapters.db.events import PgOutbox
from payplane.adapters.db.idempotency import PgIdempotencyKeys
from payplane.adapters.db.inbox import PgInbox
from payplane.adapters.db.intents import PgPaymentIntents
from payplane.adapters.db.ledger import PgLedger
from payplane.adapters.db.reconciliation import PgReconciliations
from payplane.adapters.db.refunds import PgRefunds
from payplane.adapters.db.remediation import PgRemediationItems
from payplane.adapters.db.saved_cards import PgPublishableKeys, PgSavedCards
from payplane.adapters.db.webhooks import PgWebhooks
from payplane.services.access_ports import ApprovalRequests, Operators, RestrictedKeys
from payplane.services.inbox_ports import Inbox
from payplane.services.payment_method_ports import PublishableKeys, SavedCards
from payplane.services.ports import (
    Attempts,
    AuditTrail,
    Balances,
    Cursors,
    Disputes,
    IdempotencyKeys,
    Ledger,
    Outbox,
    PaymentIntents,
    Refunds,
)
from payplane.services.reconciliation_ports import Reconciliations, RemediationItems
from payplane.services.webhook_ports import WebhookStore


class PgUnitOfWork:
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
    inbox: Inbox
    webhooks: WebhookStore
    restricted_keys: RestrictedKeys
    operators: Operators
    approvals: ApprovalRequests
    reconciliation: Reconciliations
    remediation: RemediationItems
    saved_cards: SavedCards
    publishable_keys: PublishableKeys

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._conn: psycopg.AsyncConnection | None = None

    async def __aenter__(self) -> Self:
        conn = await self._pool.getconn()
        self._conn = conn
        self.intents = PgPaymentIntents(conn)
        self.attempts = PgAttempts(conn)
        self.refunds = PgRefunds(conn)
        self.disputes = PgDisputes(conn)
        self.cursors = PgCursors(conn)
        self.ledger = PgLedger(conn)
        self.balances = PgBalances(conn)
        self.outbox = PgOutbox(conn)
        self.audit = PgAuditTrail(conn)
        self.idempotency = PgIdempotencyKeys(conn)
        self.webhooks = PgWebhooks(conn)
        self.inbox = PgInbox(conn)
        self.restricted_keys = PgRestrictedKeys(conn)
        self.operators = PgOperators(conn)
        self.approvals = PgApprovalRequests(conn)
        self.reconciliation = PgReconciliations(conn)
        self.remediation = PgRemediationItems(conn)
        self.saved_cards = PgSavedCards(conn)
        self.publishable_keys = PgPublishableKeys(conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._conn is not None
        try:
            await self._conn.rollback()  # no-op after commit(); undoes anything uncommitted
        finally:
            await self._pool.putconn(self._conn)
            self._conn = None

    async def commit(self) -> None:
        assert self._conn is not None
        await self._conn.commit()


class PgUnitOfWorkFactory:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    def __call__(self) -> PgUnitOfWork:
        return PgUnitOfWork(self._pool)
