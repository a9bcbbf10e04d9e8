"""Builds the concrete object graph a process runs on: pool, connector, services."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

from payplane.adapters.clock import SystemClock
from payplane.adapters.db.pool import create_pool
from payplane.adapters.db.uow import PgUnitOfWorkFactory
from payplane.adapters.psp.resilience import Resilience
from payplane.adapters.psp.simulator import SimulatorConnector
from payplane.config import Settings
from payplane.services.balances import BalanceService
from payplane.services.disputes import DisputeService
from payplane.services.events import EventService
from payplane.services.payment_intents import PaymentIntentService
from payplane.services.refunds import RefundService
from payplane.services.runner import AttemptRunner


@dataclass
class Container:
    settings: Settings
    pool: AsyncConnectionPool
    uow: PgUnitOfWorkFactory
    connector: SimulatorConnector
    runner: AttemptRunner
    payment_intents: PaymentIntentService
    refunds: RefundService
    disputes: DisputeService
    events: EventService
    balances: BalanceService

    async def aclose(self) -> None:
        await self.connector.aclose()
        await self.pool.close()


def database_url(settings: Settings) -> str:
    if settings.database_url is None:
        raise RuntimeError(
            "PAYPLANE_DATABASE_URL is not set: start the platform with `payplane up`, "
            "or point it at a PostgreSQL server"
        )
    return settings.database_url


async def build(settings: Settings) -> Container:
    pool = create_pool(database_url(settings), size=settings.db_pool_size)
    await pool.open(wait=True, timeout=30)
    uow = PgUnitOfWorkFactory(pool)
    connector = SimulatorConnector.create(
        settings.simulator_base_url,
        settings.simulator_api_key,
        connect_timeout=settings.psp_connect_timeout_seconds,
        read_timeout=settings.psp_read_timeout_seconds,
        resilience=Resilience(
            "simulator",
            max_attempts=settings.psp_max_attempts,
            failure_threshold=settings.breaker_failure_threshold,
            reset_seconds=settings.breaker_reset_seconds,
        ),
    )
    runner = AttemptRunner(
        uow,
        connector,
        SystemClock(),
        lock_seconds=settings.idempotency_lock_seconds,
        capture_window=settings.authorization_validity_seconds,
    )
    return Container(
        settings=settings,
        pool=pool,
        uow=uow,
        connector=connector,
        runner=runner,
        payment_intents=PaymentIntentService(runner),
        refunds=RefundService(runner),
        disputes=DisputeService(uow, connector, lock_seconds=settings.idempotency_lock_seconds),
        events=EventService(uow),
        balances=BalanceService(uow),
    )
