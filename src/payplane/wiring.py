"""Builds the concrete object graph a process runs on: pool, connector, services."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from psycopg_pool import AsyncConnectionPool

from payplane.adapters.broker.nats import JetStreamPublisher
from payplane.adapters.clock import SystemClock
from payplane.adapters.db.audit_chain import PgAuditSealer
from payplane.adapters.db.merchants import PgApiKeys
from payplane.adapters.db.outbox_relay import PgRelaySession
from payplane.adapters.db.pool import APP_ROLE, create_pool, login_as
from payplane.adapters.db.uow import PgUnitOfWorkFactory
from payplane.adapters.psp.alternative_methods import (
    BankDebitConnector,
    BankRedirectConnector,
    WalletConnector,
)
from payplane.adapters.psp.resilience import Resilience
from payplane.adapters.psp.settlement_reports import SimulatorSettlementReports
from payplane.adapters.psp.simulator import SimulatorConnector
from payplane.adapters.psp.simulator_events import SimulatorEvents
from payplane.adapters.vault import VaultClient, mtls_client
from payplane.adapters.webhook_sender import HttpWebhookSender
from payplane.api.redirects import RETURN_PATH
from payplane.config import Settings
from payplane.domain.approval import REFUND_CREATE, REMEDIATION_WRITE_OFF
from payplane.services.approvals import ApprovalService
from payplane.services.balances import BalanceService
from payplane.services.connectors import Connectors
from payplane.services.credentials import CredentialService
from payplane.services.customer_actions import CustomerActions
from payplane.services.dispatch import DeliveryPolicy, WebhookDispatcher
from payplane.services.disputes import DisputeService
from payplane.services.events import EventService
from payplane.services.inbox import InboxProcessor
from payplane.services.inbox_ports import PspEventParser
from payplane.services.janitor import Janitor
from payplane.services.payment_intents import PaymentIntentService
from payplane.services.payment_methods import PaymentMethodService
from payplane.services.reconciliation import ReconciliationService
from payplane.services.reconciliation_ports import FeeRate, Source
from payplane.services.refunds import RefundService
from payplane.services.relay import OutboxRelay
from payplane.services.remediation import RemediationService
from payplane.services.runner import AttemptRunner
from payplane.services.webhooks import WebhookEndpointService
from payplane.services.write_offs import WriteOffs


@dataclass
class Container:
    settings: Settings
    pool: AsyncConnectionPool
    api_keys: PgApiKeys
    uow: PgUnitOfWorkFactory
    connectors: Connectors
    runner: AttemptRunner
    vault_http: httpx.AsyncClient | None
    payment_methods: PaymentMethodService
    payment_intents: PaymentIntentService
    customer_actions: CustomerActions
    refunds: RefundService
    disputes: DisputeService
    events: EventService
    balances: BalanceService
    webhook_endpoints: WebhookEndpointService
    credentials: CredentialService
    reconciliation: ReconciliationService
    remediation: RemediationService
    janitor: Janitor
    write_offs: WriteOffs
    approvals: ApprovalService
    psp_webhooks: dict[str, PspEventParser]
    inbox: InboxProcessor
    audit_sealer: PgAuditSealer

    async def aclose(self) -> None:
        for connector in self._simulator_connectors():
            await connector.aclose()
        if self.vault_http is not None:
            await self.vault_http.aclose()
        await self.pool.close()

    def _simulator_connectors(self) -> list[SimulatorConnector]:
        return [c for c in self.connectors if isinstance(c, SimulatorConnector)]


def database_url(settings: Settings) -> str:
    if settings.database_url is None:
        raise RuntimeError(
            "PAYPLANE_DATABASE_URL is not set: start the platform with `payplane up`, "
            "or point it at a PostgreSQL server"
        )
    return settings.database_url


def app_database_url(settings: Settings) -> str:
    """How the api and worker connect: the setting, else the core's server and database as
    payplane_app (without a password: what the embedded server's trust authentication takes)."""
    return settings.app_database_url or login_as(database_url(settings), APP_ROLE)


async def build(settings: Settings, *, service: str = "core-api") -> Container:
    """service: the identity this process presents to the card vault (its certificate)."""
    pool = create_pool(app_database_url(settings), size=settings.db_pool_size)
    await pool.open(wait=True, timeout=30)
    uow = PgUnitOfWorkFactory(pool)
    vault_http = mtls_client(
        settings.vault_internal_base_url,
        settings.certs_path,
        service,
        connect_timeout=settings.psp_connect_timeout_seconds,
        read_timeout=settings.psp_read_timeout_seconds,
    )
    # Cards first: the first connector is the primary one, whose dispute feed is followed.
    connectors = Connectors(
        kind.create(
            settings.simulator_base_url,
            settings.simulator_api_key,
            connect_timeout=settings.psp_connect_timeout_seconds,
            read_timeout=settings.psp_read_timeout_seconds,
            resilience=Resilience(
                kind.name,
                max_attempts=settings.psp_max_attempts,
                failure_threshold=settings.breaker_failure_threshold,
                reset_seconds=settings.breaker_reset_seconds,
            ),
            # Only cards are saved in the vault: the other products never forward.
            vault=vault_http,
        )
        for kind in (
            SimulatorConnector,
            WalletConnector,
            BankRedirectConnector,
            BankDebitConnector,
        )
    )
    clock = SystemClock()
    runner = AttemptRunner(
        uow,
        connectors,
        clock,
        lock_seconds=settings.idempotency_lock_seconds,
        capture_window=settings.authorization_validity_seconds,
    )
    psp_webhooks: dict[str, PspEventParser] = {
        "simulator": SimulatorEvents(
            settings.psp_webhook_secrets, tolerance_seconds=settings.psp_webhook_tolerance_seconds
        )
    }
    refunds = RefundService(runner, approval_threshold=settings.refund_approval_threshold)
    payment_methods = PaymentMethodService(runner, VaultClient(vault_http))
    remediation = RemediationService(runner)
    write_offs = WriteOffs(runner, remediation)
    # A settlement source and the connectors its report covers: the simulator settles every
    # product it serves (cards, wallet, bank redirects and debits) in one daily report.
    simulator_settlement = Source(
        "simulator",
        tuple(c.name for c in connectors if isinstance(c, SimulatorConnector)),
        SimulatorSettlementReports(
            settings.simulator_base_url,
            settings.simulator_api_key,
            connect_timeout=settings.psp_connect_timeout_seconds,
        ),
    )
    return Container(
        settings=settings,
        pool=pool,
        api_keys=PgApiKeys(pool),
        uow=uow,
        connectors=connectors,
        runner=runner,
        vault_http=vault_http,
        payment_methods=payment_methods,
        payment_intents=PaymentIntentService(
            runner, payment_methods, return_base_url=settings.public_base_url + RETURN_PATH
        ),
        customer_actions=CustomerActions(
            runner, action_expiry_seconds=settings.action_expiry_seconds
        ),
        refunds=refunds,
        disputes=DisputeService(
            uow, connectors.primary, clock, lock_seconds=settings.idempotency_lock_seconds
        ),
        events=EventService(uow),
        balances=BalanceService(uow),
        webhook_endpoints=WebhookEndpointService(runner),
        credentials=CredentialService(runner),
        reconciliation=ReconciliationService(
            uow,
            [simulator_settlement],
            remediation,
            clock,
            fees={p: FeeRate(r.bps, r.fixed) for p, r in settings.fee_schedule.items()},
            lock_seconds=settings.idempotency_lock_seconds,
        ),
        remediation=remediation,
        janitor=Janitor(
            uow,
            escalate_after_checks=settings.janitor_escalate_after_checks,
            max_wait_seconds=settings.janitor_max_wait_seconds,
        ),
        write_offs=write_offs,
        approvals=ApprovalService(
            runner,
            {
                REFUND_CREATE: refunds.create_approved,
                REMEDIATION_WRITE_OFF: write_offs.run_approved,
            },
        ),
        psp_webhooks=psp_webhooks,
        inbox=InboxProcessor(
            uow,
            psp_webhooks,
            clock,
            capture_window=settings.authorization_validity_seconds,
            max_attempts=settings.inbox_max_attempts,
        ),
        audit_sealer=PgAuditSealer(pool),
    )


def webhook_dispatcher(container: Container) -> WebhookDispatcher:
    """Fan-out and delivery of merchant webhooks; the caller closes it (dispatcher.aclose())."""
    settings = container.settings
    policy = DeliveryPolicy(
        timeout_seconds=settings.webhook_timeout_seconds,
        concurrency=settings.webhook_concurrency,
        per_endpoint=settings.webhook_endpoint_concurrency,
        backoff_base_seconds=settings.webhook_backoff_base_seconds,
        backoff_max_seconds=settings.webhook_backoff_max_seconds,
        retry_window_seconds=settings.webhook_retry_window_seconds,
        poll_seconds=settings.webhook_poll_seconds,
    )
    sender = HttpWebhookSender(
        timeout_seconds=settings.webhook_timeout_seconds,
        max_connections=settings.webhook_concurrency,
    )
    return WebhookDispatcher(container.uow, sender, policy)


def outbox_relay(settings: Settings) -> OutboxRelay:
    """The relay from the outbox to NATS; it opens its own connections (not the pool's)."""
    if settings.nats_url is None:
        raise RuntimeError("PAYPLANE_NATS_URL is not set: the outbox relay has nowhere to publish")
    url = app_database_url(settings)
    return OutboxRelay(
        lambda: PgRelaySession.connect(url),
        JetStreamPublisher(settings.nats_url, ack_timeout=settings.relay_ack_timeout_seconds),
        batch_size=settings.relay_batch_size,
        poll_seconds=settings.relay_poll_seconds,
    )
