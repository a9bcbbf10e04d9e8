"""The PSP simulator's webhooks: Standard Webhooks signatures, and what each event type means.

Verification (`verify`) runs before anything of the body is trusted: the timestamp must be within
the tolerance, and the signature over the exact raw body must match one of the configured secrets
(two during a rotation; standardwebhooks compares in constant time). Reading (`parse`) reuses the
connector's own mapping of PSP objects, so an event yields the very PspResult or PspDispute the
synchronous call or the dispute feed would have.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from payplane.adapters.psp.alternative_methods import (
    BankDebitConnector,
    BankRedirectConnector,
    WalletConnector,
)
from payplane.adapters.psp.simulator import SimulatorConnector, _dispute
from payplane.services.inbox_ports import (
    DisputeNews,
    NoAction,
    OperationNews,
    PspInstruction,
    WebhookEnvelope,
    WebhookRejected,
)
from payplane.services.ports import PspOutcome

_SIGNED_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
# The simulator's webhooks cover all its products; each product is a connector of ours.
_CONNECTORS: dict[str, type[SimulatorConnector]] = {
    "card": SimulatorConnector,
    "wallet": WalletConnector,
    "bank_redirect": BankRedirectConnector,
    "bank_debit": BankDebitConnector,
}


class SimulatorEvents:
    name = "simulator"

    def __init__(
        self,
        secrets: Sequence[str],
        *,
        tolerance_seconds: float,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not 1 <= len(secrets) <= 2:
            raise ValueError("give one webhook secret, or two while rotating")
        self._webhooks = [Webhook(secret) for secret in secrets]
        self._tolerance = tolerance_seconds
        self._now = now

    def verify(self, raw_body: bytes, headers: Mapping[str, str]) -> WebhookEnvelope:
        given = {name.lower(): value for name, value in headers.items()}
        signed = {name: given.get(name, "") for name in _SIGNED_HEADERS}
        if not all(signed.values()):
            raise WebhookRejected(
                "Missing webhook-id, webhook-timestamp or webhook-signature header."
            )
        self._check_timestamp(signed["webhook-timestamp"])
        if not any(self._matches(webhook, raw_body, signed) for webhook in self._webhooks):
            raise WebhookRejected("No signature matches the payload with a configured secret.")
        try:
            body = orjson.loads(raw_body)
            event_id, event_type = body["id"], body["type"]
        except (orjson.JSONDecodeError, TypeError, KeyError):
            raise WebhookRejected("The event is not a JSON object with an id and a type.") from None
        if not (isinstance(event_id, str) and event_id and isinstance(event_type, str)):
            raise WebhookRejected("The event's id and type must be non-empty strings.")
        return WebhookEnvelope(event_id=event_id, event_type=event_type)

    def _check_timestamp(self, header: str) -> None:
        # standardwebhooks also checks, with a fixed 5 minutes; this applies the configured one.
        try:
            stamp = float(header)
        except ValueError:
            raise WebhookRejected("The webhook-timestamp header is not a number.") from None
        if not math.isfinite(stamp) or abs(self._now() - stamp) > self._tolerance:
            raise WebhookRejected(
                "The webhook-timestamp is outside the tolerance: a stale or replayed webhook."
            )

    @staticmethod
    def _matches(webhook: Webhook, raw_body: bytes, signed: dict[str, str]) -> bool:
        try:
            webhook.verify(raw_body, signed, json_parse=False)
        except WebhookVerificationError:
            return False
        except ValueError:
            # Garbled signatures (no "v1," or bad base64) and non-UTF-8 bodies raise these.
            return False
        return True

    def parse(self, event_type: str, raw_body: bytes) -> PspInstruction:
        try:
            data = orjson.loads(raw_body)["data"]
            return _instruction(event_type, data)
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed {event_type} event: {type(exc).__name__} {exc}") from None


def _instruction(event_type: str, data: dict[str, Any]) -> PspInstruction:
    family = event_type.partition(".")[0]
    if family == "chargeback":
        return DisputeNews(_dispute(data))
    if family not in ("authorization", "refund"):
        return NoAction(f"event type {event_type} is not acted on")
    key = data.get("idempotency_key")
    if not isinstance(key, str) or not key:
        return NoAction(f"{event_type} without the idempotency key of an operation")
    if data.get("object") != family:
        raise KeyError(f"data is not a {family}")
    return _operation_news(event_type, key, data)


def _operation_news(event_type: str, key: str, data: dict[str, Any]) -> PspInstruction:
    family, _, action = event_type.partition(".")
    if data.get("operation") == "expire":
        # Our expiry job applies its own call's answer, and asks again if that is lost.
        return NoAction(f"{event_type} answers an expiry call")
    connector = _CONNECTORS.get(data.get("product", "card"))
    if connector is None:
        return NoAction(f"{event_type} for a product Payplane has no connector for")
    result = connector.read(200, data)
    # Cards are the product of the connector the webhook came in for; the others name theirs.
    name = None if connector is SimulatorConnector else connector.name
    if family == "refund":
        return OperationNews(key, "refund", result, name)
    if (action == "failed") != (result.outcome is PspOutcome.DECLINED):
        # The type and the object disagree: trust neither; the call's own answer will come.
        return NoAction(f"{event_type} with an authorization {data.get('status')}")
    return OperationNews(key, "authorization", result, name)
