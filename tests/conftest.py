"""Fixtures every suite may use: a real, migrated PostgreSQL and a NATS for the whole session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from payplane.runtime.nats import EmbeddedNats
from payplane.runtime.postgres import EmbeddedPostgres
from payplane.runtime.processes import free_port

# The browser fixtures (Playwright on the system Chromium) for every suite's hosted pages.
pytest_plugins = ["tests.e2e.browser"]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """PAYPLANE_TEST_DATABASE_URL if set, else an embedded server private to this session."""
    from payplane import bootstrap

    external = os.environ.get("PAYPLANE_TEST_DATABASE_URL")
    if external:
        bootstrap.migrate(external)
        yield external
        return
    with EmbeddedPostgres(tmp_path_factory.mktemp("postgres"), free_port()) as postgres:
        bootstrap.migrate(postgres.url)
        yield postgres.url


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """PAYPLANE_TEST_NATS_URL if set, else an embedded JetStream server private to this session.
    Tests share its stream, so each looks only at the subjects of merchants it made."""
    external = os.environ.get("PAYPLANE_TEST_NATS_URL")
    if external:
        yield external
        return
    with EmbeddedNats(tmp_path_factory.mktemp("nats"), free_port()) as nats:
        yield nats.url


@pytest.fixture(scope="session")
def e2e_database_url(database_url: str) -> str:
    """A database of its own for the running platform, on the same server: integration tests
    write deliberately inconsistent rows, and the e2e ledger audit must not see them."""
    return fresh_database(database_url, "payplane_e2e")


def fresh_database(database_url: str, name: str) -> str:
    """An empty, migrated database `name` on the server of `database_url` (dropped first)."""
    import psycopg
    from psycopg import sql

    from payplane import bootstrap

    base, _, _ = database_url.rpartition("/")
    with psycopg.connect(database_url, autocommit=True) as conn:
        database = sql.Identifier(name)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(database))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(database))
    url = f"{base}/{name}"
    bootstrap.migrate(url)
    return url
