"""Which role each process logs in as, derived from the one URL an operator gives."""

from __future__ import annotations

from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from payplane.config import Settings
from payplane.runtime.vault import vault_env
from payplane.wiring import app_database_url

OWNER_URL = "postgresql://payplane:owner-secret@db.example:5432/payplane?sslmode=require"


def settings(**overrides: object) -> Settings:
    return Settings(home=Path("/nonexistent"), database_url=OWNER_URL, **overrides)  # type: ignore[arg-type]


def test_the_app_logs_in_as_payplane_app_on_the_same_server_without_the_owners_password() -> None:
    params = conninfo_to_dict(app_database_url(settings()))
    assert params == {
        "user": "payplane_app",
        "host": "db.example",
        "port": "5432",
        "dbname": "payplane",
        "sslmode": "require",
    }


def test_an_explicit_app_url_wins() -> None:
    url = "postgresql://payplane_app:app-secret@db.example/payplane"
    assert app_database_url(settings(app_database_url=url)) == url


def test_the_vault_logs_in_as_card_vault_without_the_owners_password() -> None:
    params = conninfo_to_dict(vault_env(settings(), OWNER_URL)["CARD_VAULT_DATABASE_URL"])
    assert params["user"] == "card_vault"
    assert "password" not in params
    assert params["host"] == "db.example"
