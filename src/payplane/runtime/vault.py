"""The card vault as a child of `payplane up`: what it needs before it starts, and its settings.

Payplane never imports the vault: it configures it through CARD_VAULT_* variables and runs its
own command line (`python -m card_vault ...`) for its key file and its database role and schema.
Every step is idempotent, so each start of the platform runs them all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from psycopg.conninfo import make_conninfo

from payplane.adapters.db.pool import login_as
from payplane.config import Settings
from payplane.runtime.processes import StartupError
from payplane.runtime.tls import init_certificates

ROLE = "card_vault"
EMBEDDED_SUPERUSER = "postgres"  # initdb's, with trust authentication on 127.0.0.1
_SETUP_TIMEOUT_SECONDS = 60


def key_file(settings: Settings) -> Path:
    return settings.home / "vault" / "keys.json"


def vault_env(settings: Settings, database_url: str) -> dict[str, str]:
    """The vault's CARD_VAULT_* settings, derived from the platform's."""
    certs = settings.certs_path
    return {
        "CARD_VAULT_DATABASE_URL": settings.vault_database_url or login_as(database_url, ROLE),
        "CARD_VAULT_HOST": settings.vault_host,
        "CARD_VAULT_PORT": str(settings.vault_port),
        "CARD_VAULT_INTERNAL_HOST": settings.vault_host,
        "CARD_VAULT_INTERNAL_PORT": str(settings.vault_internal_port),
        "CARD_VAULT_TLS_CERT_FILE": str(certs / "vault.crt"),
        "CARD_VAULT_TLS_KEY_FILE": str(certs / "vault.key"),
        "CARD_VAULT_TLS_CA_FILE": str(certs / "ca.crt"),
        "CARD_VAULT_KEY_FILE": str(key_file(settings)),
        "CARD_VAULT_PSP_URL": settings.simulator_base_url,
        "CARD_VAULT_PSP_API_KEY": settings.simulator_api_key,
        "CARD_VAULT_PSP_CONNECT_TIMEOUT_SECONDS": str(settings.psp_connect_timeout_seconds),
        "CARD_VAULT_PSP_READ_TIMEOUT_SECONDS": str(settings.psp_read_timeout_seconds),
        "CARD_VAULT_LOG_LEVEL": settings.log_level,
    }


def admin_url(settings: Settings, database_url: str, *, embedded: bool) -> str:
    """Who creates the vault's role and schema: the setting, else the embedded server's
    superuser, else the core's own role (which then needs CREATEROLE)."""
    if settings.vault_admin_database_url:
        return settings.vault_admin_database_url
    return make_conninfo(database_url, user=EMBEDDED_SUPERUSER) if embedded else database_url


def prepare_vault(settings: Settings, database_url: str, admin: str) -> list[str]:
    """Certificates (what is missing), the key file (if missing), the vault's role and schema
    (migrated); answers the certificates written."""
    written = init_certificates(settings.certs_path)
    env = vault_env(settings, database_url)
    # The key file and the database are independent: both commands run at once.
    _card_vault(
        [["init-keys"], ["migrate"]],
        {**env, "CARD_VAULT_ADMIN_DATABASE_URL": admin},
    )
    return written


def _card_vault(commands: list[list[str]], env: Mapping[str, str]) -> None:
    running = [
        (
            command,
            subprocess.Popen(  # noqa: S603 - our own interpreter and the vault's own CLI
                [sys.executable, "-m", "card_vault", *command],
                env={**os.environ, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            ),
        )
        for command in commands
    ]
    failures = []
    for command, process in running:
        output, _ = process.communicate(timeout=_SETUP_TIMEOUT_SECONDS)
        if process.returncode != 0:
            text = output.decode(errors="replace").strip()
            failures.append(f"card-vault {' '.join(command)} failed:\n{text}")
    if failures:
        raise StartupError("\n\n".join(failures))
