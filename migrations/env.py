"""Alembic environment: migrations are plain SQL, run online against PAYPLANE_DATABASE_URL."""

from __future__ import annotations

import os

import psycopg
from alembic import context
from sqlalchemy import create_engine, pool


def _database_url() -> str:
    return context.config.get_main_option("sqlalchemy.url") or os.environ["PAYPLANE_DATABASE_URL"]


def run_migrations_online() -> None:
    # libpq parses the URL, not SQLAlchemy: SQLAlchemy keeps a percent-encoded host (a unix
    # socket directory, as the embedded server's URL has) encoded and psycopg cannot use it.
    url = _database_url()
    engine = create_engine(
        "postgresql+psycopg://", creator=lambda: psycopg.connect(url), poolclass=pool.NullPool
    )
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
