"""Process configuration, read from CARD_VAULT_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Which service (the name in its certificate) may use which group of internal routes.
DEFAULT_ALLOWED_CLIENTS: dict[str, list[str]] = {
    "payment_methods": ["core-api", "core-worker"],
    "publishable_keys": ["core-api", "core-worker"],
    "forward": ["core-api", "core-worker"],
    "keys": ["vault-admin"],
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARD_VAULT_", extra="ignore")

    # Connects as the card_vault role; `card-vault migrate` creates it.
    database_url: str = "postgresql://card_vault@127.0.0.1:5433/payplane"
    db_pool_size: int = Field(default=10, ge=1)

    host: str = "127.0.0.1"
    port: int = Field(default=8200, ge=0, le=65535)
    # Serve the public port over TLS too (with the certificate below, no client certificate).
    public_tls: bool = False
    internal_host: str = "127.0.0.1"
    internal_port: int = Field(default=8201, ge=0, le=65535)
    tls_cert_file: Path = Path(".payplane/certs/vault.crt")
    tls_key_file: Path = Path(".payplane/certs/vault.key")
    tls_ca_file: Path = Path(".payplane/certs/ca.crt")

    # Key-encryption keys: a JSON file {"current": N, "keys": {"N": base64}, "fingerprint_key"},
    # or the same JSON in CARD_VAULT_KEYS (which `rotate-key` cannot change).
    key_file: Path | None = Path(".payplane/vault_keys.json")
    keys: str | None = Field(default=None, repr=False)
    fingerprint_key: str | None = Field(default=None, repr=False)

    psp_url: str = "http://127.0.0.1:8100"
    psp_api_key: str = Field(default="psk_test_simulator", repr=False)
    psp_connect_timeout_seconds: float = Field(default=2.0, gt=0)
    psp_read_timeout_seconds: float = Field(default=10.0, gt=0)

    cvc_ttl_seconds: float = Field(default=600.0, gt=0)
    # Forwarding requests are kept to refuse a replay of the same key with another body; the
    # core re-sends an attempt within hours, and the PSP dedups by the same key in any case.
    forward_retention_seconds: float = Field(default=30 * 86_400.0, ge=86_400)
    housekeeping_interval_seconds: float = Field(default=3_600.0, gt=0)
    allowed_clients: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_ALLOWED_CLIENTS.items()}
    )
    rewrap_batch_size: int = Field(default=500, ge=1, le=10_000)
    log_level: str = "INFO"
