"""Where webhooks go, how they are signed (Standard Webhooks) and how delivery misbehaves.

All of it can be changed at runtime through /admin/webhooks and /admin/webhook_faults; the sender
reads it afresh for every delivery, so a rotated secret signs the very next attempt.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
DEFAULT_WEBHOOK_SECRET = (
    SECRET_PREFIX + base64.b64encode(b"payplane-simulator-webhook-secret!").decode()
)
# What the Standard Webhooks spec recommends for a signing key.
_SECRET_BYTES = (24, 64)


def _check_secret(secret: str) -> str:
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error:
        key = b""
    if not secret.startswith(SECRET_PREFIX) or not _SECRET_BYTES[0] <= len(key) <= _SECRET_BYTES[1]:
        raise ValueError(
            f"must be '{SECRET_PREFIX}' followed by the base64 of "
            f"{_SECRET_BYTES[0]} to {_SECRET_BYTES[1]} bytes."
        )
    return secret


WebhookSecret = Annotated[StrictStr, AfterValidator(_check_secret)]
WebhookUrl = Annotated[StrictStr, Field(pattern=r"^https?://\S+$", max_length=2048)]
Rate = Annotated[float, Field(ge=0.0, le=1.0)]


class WebhookTargetRequest(BaseModel):
    """POST /admin/webhooks: fields left out keep their current value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: WebhookUrl | None = None
    secret: WebhookSecret = DEFAULT_WEBHOOK_SECRET


class WebhookFaults(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Send a delivered event once more, with the same webhook-id.
    duplicate_rate: Rate = 0.0
    # Hold events and release them in shuffled batches.
    reorder: StrictBool = False
    # Wait before each send.
    delay_ms: Annotated[StrictInt, Field(ge=0, le=600_000)] = 0
    # Mark an event delivered without sending it: a lost webhook.
    drop_rate: Rate = 0.0


class WebhookControl:
    """The destination, signing secret and delivery faults in force right now."""

    def __init__(self, url: str | None, secret: str) -> None:
        self.url = url
        self._webhook = Webhook(secret)
        self.faults = WebhookFaults()

    def configure(self, request: WebhookTargetRequest) -> None:
        if "url" in request.model_fields_set:
            self.url = request.url
        if "secret" in request.model_fields_set:
            self._webhook = Webhook(request.secret)

    def reset_faults(self) -> None:
        self.faults = WebhookFaults()

    def describe(self) -> dict[str, object]:
        # The secret itself is never shown; there is always one (the dev default at worst).
        return {"url": self.url, "secret_set": True}

    def headers(self, event_id: str, body: bytes) -> dict[str, str]:
        """Standard Webhooks headers for one send, signed with the current secret."""
        now = datetime.now(UTC)
        return {
            "content-type": "application/json",
            "webhook-id": event_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self._webhook.sign(event_id, now, body.decode()),
        }
