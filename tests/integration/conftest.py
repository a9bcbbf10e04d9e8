"""Fixtures of the integration tier: the session's PostgreSQL (tests/conftest.py) as its owner,
and fresh merchants so that tests never see each other's rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
from pg_support import LOCK_TIMEOUT, new_merchant


@pytest.fixture
def owner(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection as the schema owner (the role migrations run as), in autocommit mode."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        yield conn


@pytest.fixture
def make_merchant(database_url: str) -> Callable[[], str]:
    return lambda: new_merchant(database_url)


@pytest.fixture
def merchant(make_merchant: Callable[[], str]) -> str:
    return make_merchant()


@pytest.fixture
def other_merchant(make_merchant: Callable[[], str]) -> str:
    return make_merchant()
