"""Helpers for the integration tests: rows made with raw SQL as the owner, and async sessions
that run as payplane_app exactly like the processes' pool does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool

from payplane.adapters.db.merchants import insert_merchant_with_key
from payplane.adapters.db.pool import APP_ROLE, create_pool
from payplane.adapters.db.uow import PgUnitOfWork
from payplane.domain.ids import new_id

T = TypeVar("T")

# Tests against a shared server must never hang on somebody else's lock.
LOCK_TIMEOUT = "5s"


def new_merchant(database_url: str, name: str = "integration") -> str:
    with psycopg.connect(database_url, autocommit=True) as conn:
        merchant_id, _secret = insert_merchant_with_key(conn, name)
    return merchant_id


def insert_intent(
    conn: psycopg.Connection,
    merchant_id: str,
    *,
    amount: int = 1000,
    currency: str = "usd",
    status: str = "processing",
    created: int = 1_700_000_000,
    customer: str | None = None,
) -> str:
    intent_id = new_id("pi")
    conn.execute(
        "INSERT INTO payment_intents (id, merchant_id, amount, currency, status, capture_method, "
        "connector, created, customer) VALUES (%s, %s, %s, %s, %s, 'manual', 'simulator', %s, %s)",
        (intent_id, merchant_id, amount, currency, status, created, customer),
    )
    return intent_id


def insert_attempt(
    conn: psycopg.Connection,
    intent_id: str,
    merchant_id: str,
    *,
    status: str = "pending",
    amount: int = 1000,
    currency: str = "usd",
) -> str:
    attempt_id = new_id("att")
    conn.execute(
        "INSERT INTO payment_attempts (id, payment_intent_id, merchant_id, kind, status, "
        "connector, psp_idempotency_key, amount, currency) "
        "VALUES (%s, %s, %s, 'authorize', %s, 'simulator', %s, %s, %s)",
        (attempt_id, intent_id, merchant_id, status, new_id("psp"), amount, currency),
    )
    return attempt_id


def insert_account(conn: psycopg.Connection, merchant_id: str, currency: str, purpose: str) -> int:
    row = conn.execute(
        "INSERT INTO ledger_accounts (code, currency, merchant_id) VALUES (%s, %s, %s) "
        "RETURNING id",
        (f"merchant:{merchant_id}:{currency}:{purpose}", currency, merchant_id),
    ).fetchone()
    assert row is not None
    account_id: int = row[0]
    return account_id


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


async def app_connect(database_url: str) -> psycopg.AsyncConnection[Any]:
    """A connection configured like the pool's: SET ROLE payplane_app, not autocommit."""
    conn = await psycopg.AsyncConnection.connect(database_url)
    await conn.execute(f"SET ROLE {APP_ROLE}")
    await conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    await conn.commit()
    return conn


@asynccontextmanager
async def app_session(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """One payplane_app connection; whatever is not committed is rolled back on exit."""
    conn = await app_connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()


@asynccontextmanager
async def app_pool(database_url: str, size: int = 2) -> AsyncIterator[AsyncConnectionPool]:
    pool = create_pool(database_url, size=size)
    await pool.open(wait=True)
    try:
        yield pool
    finally:
        await pool.close()


def in_uow(database_url: str, work: Callable[[PgUnitOfWork], Awaitable[T]]) -> T:
    """Run `work` in one PgUnitOfWork on the processes' own pool and commit it."""

    async def main() -> T:
        async with app_pool(database_url, size=1) as pool, PgUnitOfWork(pool) as uow:
            result = await work(uow)
            await uow.commit()
            return result

    return asyncio.run(main())
