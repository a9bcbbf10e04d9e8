"""One settings object for every Payplane process; each field reads PAYPLANE_<NAME>."""

from __future__ import annotations

import json
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The simulator's development secret (Standard Webhooks: "whsec_" + base64 of the key bytes).
SIMULATOR_WEBHOOK_SECRET = "whsec_cGF5cGxhbmUtc2ltdWxhdG9yLXdlYmhvb2stc2VjcmV0IQ=="  # noqa: S105


class FeeRateSetting(BaseModel):
    """A PSP's commission: fixed + amount * bps / 10000 rounded half up, in minor units."""

    bps: int = Field(ge=0, le=10_000)
    fixed: int = Field(ge=0)


# The simulator's default schedule, per product (its /admin/fees).
DEFAULT_FEE_SCHEDULE = {
    "card": FeeRateSetting(bps=140, fixed=25),
    "wallet": FeeRateSetting(bps=290, fixed=30),
    "bank_redirect": FeeRateSetting(bps=0, fixed=29),
    "bank_debit": FeeRateSetting(bps=0, fixed=35),
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYPLANE_", extra="ignore")

    home: Path = Field(default=Path(".payplane"), description="state directory (embedded DB, logs)")
    database_url: str | None = Field(
        default=None, description="any PostgreSQL >= 14; unset means embedded PostgreSQL under home"
    )
    app_database_url: str | None = Field(
        default=None,
        description="how the api and worker connect (as the role payplane_app, which migrations "
        "make a LOGIN role); unset: PAYPLANE_DATABASE_URL's server and database as payplane_app, "
        "without a password",
    )
    pg_port: int = Field(default=5433, description="port of the embedded PostgreSQL")
    db_pool_size: int = 20

    nats_url: str | None = Field(
        default=None, description="any NATS with JetStream; unset means embedded NATS under home"
    )
    nats_port: int = Field(default=4222, description="port of the embedded NATS")
    relay_batch_size: int = Field(default=500, gt=0, description="events per relay round trip")
    relay_poll_seconds: float = Field(
        default=1.0, gt=0, description="relay poll interval when no NOTIFY wakes it"
    )
    relay_ack_timeout_seconds: float = Field(
        default=5.0, gt=0, description="how long the relay waits for a batch's PubAcks"
    )

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_workers: int = 1
    public_url: str | None = Field(
        default=None,
        description="the API's address as customers' browsers reach it (PSP pages send them back "
        "to <public_url>/redirect/return/...); derived from api host and port if unset",
    )

    simulator_host: str = "127.0.0.1"
    simulator_port: int = 8100
    simulator_url: str | None = Field(
        default=None,
        description="base URL of the PSP simulator; derived from host and port if unset",
    )
    simulator_api_key: str = "psk_test_simulator"

    vault_host: str = Field(default="127.0.0.1", description="address the card vault binds to")
    vault_port: int = Field(default=8200, description="the card vault's public port")
    vault_internal_port: int = Field(
        default=8201, description="the card vault's internal port (mutual TLS only)"
    )
    vault_url: str | None = Field(
        default=None,
        description="the vault's public port as clients and browsers reach it; derived from "
        "vault host and port if unset",
    )
    vault_internal_url: str | None = Field(
        default=None,
        description="the vault's internal port as the core reaches it; derived if unset",
    )
    vault_database_url: str | None = Field(
        default=None,
        description="how the vault connects (as the role card_vault); unset: the core's server "
        "and database as card_vault, without a password",
    )
    vault_admin_database_url: str | None = Field(
        default=None,
        description="a role that may create the card_vault role and schema, for `payplane up`; "
        "unset: the embedded server's superuser, or PAYPLANE_DATABASE_URL",
    )
    certs_dir: Path | None = Field(
        default=None,
        description="certificates for mutual TLS (`payplane certs init`); unset: <home>/certs",
    )

    psp_connect_timeout_seconds: float = 2.0
    psp_read_timeout_seconds: float = 10.0
    psp_max_attempts: int = 3
    breaker_failure_threshold: int = 5
    breaker_reset_seconds: float = 10.0

    idempotency_retention_days: int = Field(default=30, ge=30)
    idempotency_lock_seconds: float = Field(
        default=60.0, description="after this long a key held by a dead request may be resumed"
    )
    authorization_validity_seconds: int = Field(
        default=7 * 24 * 3600,
        gt=0,
        description="an uncaptured authorization is voided (reason automatic) after this long",
    )
    resolver_interval_seconds: float = 2.0
    action_expiry_seconds: float = Field(
        default=1800.0,
        gt=0,
        description="a customer action (3-D Secure, wallet or bank page) not completed in this "
        "long is expired at the PSP and the intent returns to requires_payment_method",
    )
    janitor_escalate_after_checks: int = Field(
        default=12,
        ge=1,
        description="a PSP call still in doubt after this many status checks (about an hour with "
        "the resolver's backoff) becomes an unresolved_payment remediation item",
    )
    janitor_max_wait_seconds: float = Field(
        default=14 * 24 * 3600,
        gt=0,
        description="a payment waiting for the PSP's result (bank debits) or the customer longer "
        "than this becomes an unresolved_payment remediation item",
    )
    janitor_interval_seconds: float = Field(default=30.0, gt=0)
    action_follow_interval_seconds: float = Field(
        default=1.0, gt=0, description="how often waiting payments are checked for due follow-ups"
    )
    dispute_sync_interval_seconds: float = 2.0
    resolver_min_age_seconds: float = Field(
        default=15.0, description="an attempt must be this old before the resolver asks the PSP"
    )

    psp_webhook_secrets: Annotated[list[str], NoDecode] = Field(
        default=[SIMULATOR_WEBHOOK_SECRET],
        min_length=1,
        max_length=2,
        description="secrets PSP webhooks may be signed with, comma-separated; two during a "
        "rotation (the first is the one the simulator is given)",
    )
    psp_webhook_tolerance_seconds: int = Field(
        default=300,
        gt=0,
        le=300,
        description="how far a webhook's timestamp may be from now (standardwebhooks caps it at 5 "
        "minutes)",
    )
    inbox_max_attempts: int = Field(
        default=8, ge=1, description="an inbox event not applicable after this many tries is parked"
    )
    inbox_poll_seconds: float = Field(default=0.25, gt=0)

    webhook_retry_window_seconds: float = Field(
        default=3 * 24 * 3600, gt=0, description="a merchant webhook is retried this long"
    )
    webhook_backoff_base_seconds: float = Field(default=5.0, gt=0)
    webhook_backoff_max_seconds: float = Field(default=6 * 3600, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, description="per delivery attempt")
    webhook_concurrency: int = Field(default=32, ge=1, description="deliveries in flight")
    webhook_endpoint_concurrency: int = Field(
        default=4, ge=1, description="deliveries in flight to one endpoint, per dispatcher"
    )
    webhook_poll_seconds: float = Field(default=0.5, gt=0)
    webhook_fanout_ack_wait_seconds: float = Field(
        default=30.0, gt=0, description="an unacknowledged event is fanned out again after this"
    )

    auth_cache_seconds: float = Field(
        default=30.0,
        ge=0,
        description="how long an API process trusts a credential lookup: revocations and role "
        "changes take effect within this time",
    )
    refund_approval_threshold: int = Field(
        default=100_000,
        ge=0,
        description="refunds above this amount (minor units) asked for by an operator or a "
        "restricted key wait for a second operator's approval",
    )

    operator_token: str | None = Field(
        default=None,
        min_length=16,
        description="the platform account's secret key (Bearer): every right over the "
        "platform's reconciliation, remediation, operators and restricted keys; unset, none",
    )
    reconcile_at: time = Field(
        default=time(2, 0),
        description="UTC time of day from which the worker reconciles yesterday's settlement "
        "reports",
    )
    fee_schedule: dict[str, FeeRateSetting] = Field(
        default_factory=lambda: dict(DEFAULT_FEE_SCHEDULE),
        description="the fees Payplane expects the PSP to charge per product (JSON); "
        "reconciliation books the difference as fee variance",
    )

    log_level: str = "INFO"

    @field_validator("psp_webhook_secrets", mode="before")
    @classmethod
    def _split_secrets(cls, value: Any) -> Any:
        # From the environment: "whsec_a,whsec_b", or the JSON list `payplane up` passes on.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _resolver_waits_for_live_requests(self) -> Settings:
        # The resolver must not race a request that is still waiting for the PSP's answer.
        if self.resolver_min_age_seconds <= self.psp_read_timeout_seconds:
            raise ValueError("resolver_min_age_seconds must exceed psp_read_timeout_seconds")
        return self

    @property
    def public_base_url(self) -> str:
        return (self.public_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    @property
    def simulator_base_url(self) -> str:
        return self.simulator_url or f"http://{self.simulator_host}:{self.simulator_port}"

    @property
    def vault_public_url(self) -> str:
        return (self.vault_url or f"http://{self.vault_host}:{self.vault_port}").rstrip("/")

    @property
    def vault_internal_base_url(self) -> str:
        # The vault's certificate names localhost and 127.0.0.1, so the URL must name one too.
        default = f"https://{self.vault_host}:{self.vault_internal_port}"
        return (self.vault_internal_url or default).rstrip("/")

    @property
    def certs_path(self) -> Path:
        return self.certs_dir or self.home / "certs"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
