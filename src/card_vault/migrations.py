"""`card-vault migrate`: the card_vault role, the vault schema it owns, and its tables.

Run with an administrator's connection (a superuser, or a role that may create roles and then
act as them). Idempotent: the role and schema are created if missing and each versioned SQL file
in card_vault/sql is applied once, recorded in vault.schema_migrations. The schema grants
nothing to anyone else, so the core's roles (payplane, payplane_app) cannot read it.
"""

from __future__ import annotations

import re
from importlib import resources

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

ROLE = "card_vault"
SCHEMA = "vault"
_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_LOCK = "card_vault.migrate"


def migrations() -> list[tuple[int, str]]:
    """(version, SQL) of every migration shipped with the package, in order."""
    found = []
    for entry in (resources.files("card_vault") / "sql").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text()))
    return sorted(found)


def migrate(admin_url: str, vault_url: str | None = None) -> list[int]:
    """Bring role, schema and tables up to date; answers the versions applied now.

    The role's password, if any, is taken from `vault_url` (CARD_VAULT_DATABASE_URL), so the
    vault connects exactly as configured.
    """
    password = conninfo_to_dict(vault_url).get("password") if vault_url else None
    role, schema = sql.Identifier(ROLE), sql.Identifier(SCHEMA)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (_LOCK,))
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(role))
        conn.execute(
            sql.SQL("ALTER ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(role)
        )
        if password:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(role, sql.Literal(str(password)))
            )
        conn.execute(
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(schema, role)
        )
        conn.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(schema))
        # Tables are created as card_vault so that it owns them and nobody else holds a grant.
        conn.execute(sql.SQL("SET ROLE {}").format(role))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS vault.schema_migrations ("
            "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM vault.schema_migrations")}
        applied = []
        for version, text in migrations():
            if version in done:
                continue
            with conn.transaction():
                conn.execute(text.encode())  # bytes: psycopg takes only literal str queries
                conn.execute(
                    "INSERT INTO vault.schema_migrations (version) VALUES (%s)", (version,)
                )
            applied.append(version)
        conn.execute("RESET ROLE")
        conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (_LOCK,))
    return applied
