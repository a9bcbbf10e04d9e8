"""Wiring that only the process edges use: migrations and first-run set-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config

from payplane.adapters.db.merchants import insert_merchant_with_key

_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str) -> Config:
    config = Config(str(_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def migrate(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


def create_merchant(database_url: str, name: str) -> dict[str, Any]:
    """Create a merchant and its first secret key; the key is returned once and stored hashed."""
    with psycopg.connect(database_url) as conn:
        merchant_id, secret = insert_merchant_with_key(conn, name)
    return {"id": merchant_id, "name": name, "secret_key": secret}
