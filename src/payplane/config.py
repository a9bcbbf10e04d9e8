"""One settings object for every Payplane process; each field reads PAYPLANE_<NAME>."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The simulator's development secret (Standard Webhooks: "whsec_" + base64 of the key bytes).
SIMULATOR_WEBHOOK_SECRET = "whsec_cGF5cGxhbmUtc2ltdWxhdG9yLXdlYmhvb2stc2VjcmV0IQ=="  # noqa: S105


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYPLANE_", extra="ignore")

    home: Path = Field(default=Path(".payplane"), description="state directory (embedded DB, logs)")
    database_url: str | None = Field(
        default=None, description="any PostgreSQL >= 14; unset means embedded PostgreSQL under home"
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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
