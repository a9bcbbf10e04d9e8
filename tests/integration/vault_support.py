"""Helpers for the card vault's integration tests: its schema on the session's PostgreSQL,
a vault wired to it with a fake PSP, and its ASGI apps called in-process."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from cryptography.hazmat.primitives.serialization import Encoding
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool

from card_vault.keyring import create_key_file
from card_vault.migrations import migrate
from card_vault.settings import Settings
from card_vault.store import Store
from card_vault.vault import Vault
from card_vault.wiring import open_vault
from payplane.runtime.tls import issue, issue_ca

ASGIApp = Callable[..., Any]


def admin_url(database_url: str) -> str:
    """The server's superuser on the same database: the embedded server's is `postgres`."""
    return make_conninfo(database_url, user="postgres")


def vault_url(database_url: str) -> str:
    return make_conninfo(database_url, user="card_vault")


@contextmanager
def scratch_database(database_url: str, name: str) -> Iterator[str]:
    """A new database on the same server with the vault schema, dropped afterwards."""
    database = sql.Identifier(name)
    with psycopg.connect(admin_url(database_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(database))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(database))
    url = make_conninfo(database_url, dbname=name)
    try:
        migrate(admin_url(url))
        yield url
    finally:
        with psycopg.connect(admin_url(database_url), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(database))


def migrated(database_url: str) -> str:
    migrate(admin_url(database_url))
    return vault_url(database_url)


def new_merchant_id() -> str:
    return "acct_" + secrets.token_hex(8)


def new_publishable_key() -> str:
    return "pk_test_" + secrets.token_urlsafe(24)


def settings(database_url: str, key_file: Path, **overrides: Any) -> Settings:
    return Settings(
        database_url=vault_url(database_url),
        db_pool_size=2,
        key_file=key_file,
        psp_url="http://psp.test",
        **overrides,
    )


@asynccontextmanager
async def vault_with_fake_psp(
    database_url: str,
    key_file: Path,
    psp: Callable[[httpx.Request], httpx.Response] | None = None,
    **overrides: Any,
) -> AsyncIterator[Vault]:
    create_key_file(key_file)
    transport = httpx.MockTransport(psp or (lambda _: httpx.Response(500)))
    async with open_vault(
        settings(database_url, key_file, **overrides), psp_transport=transport
    ) as vault:
        yield vault


@asynccontextmanager
async def vault_store(database_url: str) -> AsyncIterator[Store]:
    """The vault's tables, as the vault process reaches them (role card_vault)."""
    async with AsyncConnectionPool(vault_url(database_url), min_size=1, max_size=1) as pool:
        yield Store(pool)


class CapturingPsp:
    """A fake PSP that records each request and answers like the simulator would."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self._answer = answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self._answer is not None:
            return self._answer(request)
        body = json.loads(request.content)
        card = body["card"]
        return httpx.Response(200, json={
            "id": "psp_1", "object": "authorization", "status": "authorized",
            "amount": body["amount"], "currency": body["currency"],
            "payment_method": f"card_visa_{card['number'][-4:]}",
            "echo": f"number {card['number']}",
        })  # fmt: skip

    @property
    def cards(self) -> list[dict[str, Any]]:
        return [json.loads(request.content)["card"] for request in self.requests]


_CA = issue_ca(days=1)


def as_service(app: ASGIApp, service: str) -> ASGIApp:
    """`app` as called over mTLS by `service`: its certificate in the ASGI TLS extension, as
    the vault's TLS protocol puts it there."""
    pem = issue(_CA, service, server=False).certificate.public_bytes(Encoding.PEM).decode()

    async def with_certificate(scope: dict[str, Any], receive: Any, send: Any) -> None:
        extensions = {**(scope.get("extensions") or {}), "tls": {"client_cert_chain": [pem]}}
        await app({**scope, "extensions": extensions}, receive, send)

    return with_certificate


def client(app: ASGIApp, base_url: str = "http://vault.test") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)
