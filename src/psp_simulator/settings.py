"""Process configuration, read from PSP_SIMULATOR_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from psp_simulator.payloads import AbsoluteUrl
from psp_simulator.payment_methods import DEFAULT_ACTION_TIMEOUT_SECONDS, ActionTimeout
from psp_simulator.webhooks import DEFAULT_WEBHOOK_SECRET, WebhookSecret, WebhookUrl

LogLevel = Literal["critical", "error", "warning", "info", "debug"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PSP_SIMULATOR_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8100, ge=0, le=65535)
    api_key: str = Field(default="psk_test_simulator", min_length=1)
    db_path: Path = Path(".payplane/psp_simulator.sqlite3")
    log_level: LogLevel = "info"
    # What a chargeback costs the merchant, in minor units of the disputed currency.
    dispute_fee: int = Field(default=1500, ge=0)
    # Where events are POSTed; None records them without delivering (see /admin/webhooks).
    webhook_url: WebhookUrl | None = None
    webhook_secret: WebhookSecret = DEFAULT_WEBHOOK_SECRET
    # Where browsers reach the simulator: the base of hosted page URLs (default http://HOST:PORT).
    public_url: AbsoluteUrl | None = None
    # How long a payment waits for its customer on a hosted page (see /admin/method_timing).
    action_timeout_seconds: ActionTimeout = DEFAULT_ACTION_TIMEOUT_SECONDS

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @field_validator("log_level", mode="before")
    @classmethod
    def _lowercase(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value
