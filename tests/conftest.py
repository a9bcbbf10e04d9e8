"""Fixtures every suite may use: a real, migrated PostgreSQL for the whole session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from payplane.runtime.postgres import EmbeddedPostgres
from payplane.runtime.processes import free_port


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
def e2e_database_url(database_url: str) -> str:
    """A database of its own for the running platform, on the same server: integration tests
    write deliberately inconsistent rows, and the e2e ledger audit must not see them."""
    import psycopg
    from psycopg import sql

    from payplane import bootstrap

    base, _, _ = database_url.rpartition("/")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS payplane_e2e WITH (FORCE)"))
        conn.execute(sql.SQL("CREATE DATABASE payplane_e2e"))
    url = f"{base}/payplane_e2e"
    bootstrap.migrate(url)
    return url
