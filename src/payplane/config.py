"""One settings object for every Payplane process; each field reads PAYPLANE_<NAME>."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYPLANE_", extra="ignore")

    home: Path = Field(default=Path(".payplane"), description="state directory (embedded DB, logs)")
    database_url: str | None = Field(
        default=None, description="any PostgreSQL >= 14; unset means embedded PostgreSQL under home"
    )
    pg_port: int = Field(default=5433, description="port of the embedded PostgreSQL")
    db_pool_size: int = 20

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_workers: int = 1

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
    dispute_sync_interval_seconds: float = 2.0
    resolver_min_age_seconds: float = Field(
        default=15.0, description="an attempt must be this old before the resolver asks the PSP"
    )

    log_level: str = "INFO"

    @model_validator(mode="after")
    def _resolver_waits_for_live_requests(self) -> Settings:
        # The resolver must not race a request that is still waiting for the PSP's answer.
        if self.resolver_min_age_seconds <= self.psp_read_timeout_seconds:
            raise ValueError("resolver_min_age_seconds must exceed psp_read_timeout_seconds")
        return self

    @property
    def simulator_base_url(self) -> str:
        return self.simulator_url or f"http://{self.simulator_host}:{self.simulator_port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
