"""Wiring that only the process edges use: migrations and first-run set-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config

from payplane.adapters.db.merchants import insert_merchant_with_key
from payplane.adapters.db.saved_cards import (
    insert_publishable_key,
    mark_registered,
    publishable_key_of,
)
from payplane.adapters.vault import register_publishable_key_now
from payplane.config import Settings
from payplane.services.payment_method_ports import PublishableKey, VaultUnavailable

_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str) -> Config:
    config = Config(str(_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def migrate(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


def create_merchant(
    database_url: str, name: str, settings: Settings | None = None
) -> dict[str, Any]:
    """Create a merchant, its first secret key (returned once, stored hashed) and its
    publishable key. With `settings`, the card vault is told the publishable key at once if it
    is reachable; else the worker tells it when it can."""
    with psycopg.connect(database_url) as conn:
        with conn.transaction():
            merchant_id, secret = insert_merchant_with_key(conn, name)
            publishable = insert_publishable_key(conn, merchant_id)
        if settings is not None and _registered(settings, PublishableKey(publishable, merchant_id)):
            with conn.transaction():
                mark_registered(conn, publishable)
    return {"id": merchant_id, "name": name, "secret_key": secret, "publishable_key": publishable}


def _registered(settings: Settings, key: PublishableKey) -> bool:
    try:
        register_publishable_key_now(
            settings.vault_internal_base_url, settings.certs_path, "core-api", key
        )
    except VaultUnavailable:
        return False
    return True


def publishable_key(database_url: str, merchant_id: str) -> str:
    with psycopg.connect(database_url) as conn:
        return publishable_key_of(conn, merchant_id)
