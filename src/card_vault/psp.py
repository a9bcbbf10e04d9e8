"""Forwarding an authorization, card inserted, to the PSP, and telling apart how it can fail.

A failure to connect means the PSP provably got nothing (503 psp_unreachable: retrying is
safe); a timeout or broken connection after the request went out means only the PSP knows
(504 psp_timeout: look the operation up before retrying).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from card_vault.errors import VaultError


@dataclass(frozen=True, slots=True)
class PspAnswer:
    status: int
    body: Any
    replayed: bool


def unreachable(detail: str) -> VaultError:
    return VaultError(
        503,
        "psp_unreachable",
        f"The PSP could not be reached ({detail}); nothing was sent. Retrying with the same "
        "Idempotency-Key is safe.",
    )


def timed_out(detail: str) -> VaultError:
    return VaultError(
        504,
        "psp_timeout",
        f"The authorization was sent to the PSP but no answer came back ({detail}); its outcome "
        "is unknown. Look the operation up at the PSP by its Idempotency-Key.",
    )


class PspClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def authorize(self, body: dict[str, Any], idempotency_key: str) -> PspAnswer:
        try:
            response = await self._client.post(
                "/v1/authorizations",
                content=orjson.dumps(body),
                headers={"Content-Type": "application/json", "Idempotency-Key": idempotency_key},
            )
        # Before the request is written: connect failures and an exhausted pool.
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise unreachable(type(exc).__name__) from None
        except httpx.TransportError as exc:
            raise timed_out(type(exc).__name__) from None
        try:
            parsed = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise VaultError(
                502,
                "psp_invalid_response",
                f"The PSP answered HTTP {response.status_code} with a body that is not JSON; "
                "the authorization's outcome is unknown. Look it up at the PSP by its "
                "Idempotency-Key.",
            ) from None
        replayed = response.headers.get("Idempotent-Replayed") == "true"
        return PspAnswer(response.status_code, parsed, replayed)


def without_number(value: Any, number: str) -> Any:
    """`value` with every echo of the card number taken out: the whole number, in any string or
    as a JSON integer, becomes "[redacted]"."""
    if isinstance(value, dict):
        return {key: without_number(item, number) for key, item in value.items()}
    if isinstance(value, list):
        return [without_number(item, number) for item in value]
    if isinstance(value, str) and number in value:
        return value.replace(number, "[redacted]")
    if isinstance(value, int) and not isinstance(value, bool) and str(value) == number:
        return "[redacted]"
    return value
