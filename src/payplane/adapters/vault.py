"""The core's client of the card vault's internal port (its contract: card_vault's docstring).

Mutual TLS with this process's own certificate from `payplane certs init` (core-api or
core-worker), which the vault checks against its allow list. Only cards' descriptions cross:
the vault never sends the core a card number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from payplane.domain.saved_card import SavedCard
from payplane.runtime.tls import CA_NAME, client_context
from payplane.services.payment_method_ports import PublishableKey, VaultUnavailable

# The vault waits up to the PSP read timeout for the PSP; the core waits this much longer, so
# the vault's own answer (504 psp_timeout) arrives rather than a timeout of ours.
FORWARD_MARGIN_SECONDS = 1.0


def has_certificate(certs: Path, service: str) -> bool:
    names = (f"{CA_NAME}.crt", f"{service}.crt", f"{service}.key")
    return all((certs / name).is_file() for name in names)


def mtls_client(
    base_url: str, certs: Path, service: str, *, connect_timeout: float, read_timeout: float
) -> httpx.AsyncClient | None:
    """A client presenting `service`'s certificate; None when the process has none."""
    if not has_certificate(certs, service):
        return None
    return httpx.AsyncClient(
        base_url=base_url,
        verify=client_context(certs, service),
        timeout=httpx.Timeout(read_timeout + FORWARD_MARGIN_SECONDS, connect=connect_timeout),
    )


def _key_registration(key: PublishableKey) -> tuple[str, dict[str, str]]:
    return f"/internal/publishable_keys/{key.key}", {"merchant_id": key.merchant_id}


def _check_registered(response: httpx.Response) -> None:
    if response.status_code != 200:
        raise VaultUnavailable(f"the vault refused the key: {_error_of(response)}")


def _error_of(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    return f"HTTP {response.status_code} {error.get('code')}: {error.get('message')}"


def register_publishable_key_now(
    base_url: str, certs: Path, service: str, key: PublishableKey
) -> None:
    """The same registration, synchronously (bootstrap, at a merchant's creation)."""
    if not has_certificate(certs, service):
        raise VaultUnavailable(f"no certificate for {service} in {certs}")
    path, body = _key_registration(key)
    try:
        with httpx.Client(
            base_url=base_url, verify=client_context(certs, service), timeout=5
        ) as client:
            response = client.put(path, json=body)
    except httpx.HTTPError as exc:
        raise VaultUnavailable(f"the vault is unreachable ({type(exc).__name__})") from exc
    _check_registered(response)


def to_saved_card(merchant_id: str, body: dict[str, Any]) -> SavedCard:
    card = body["card"]
    return SavedCard(
        id=body["id"],
        merchant_id=merchant_id,
        brand=card["brand"],
        last4=card["last4"],
        exp_month=card["exp_month"],
        exp_year=card["exp_year"],
        fingerprint=card["fingerprint"],
        funding=card["funding"],
        country=card["country"],
        billing_name=(body.get("billing_details") or {}).get("name"),
        created=body["created"],
    )


class VaultClient:
    """The Vault port over the internal port; `http` None: this process has no certificate."""

    def __init__(self, http: httpx.AsyncClient | None) -> None:
        self._http = http

    async def saved_card(self, merchant_id: str, card_id: str) -> SavedCard | None:
        response = await self._request(
            "GET", f"/internal/payment_methods/{card_id}", params={"merchant_id": merchant_id}
        )
        if response.status_code in (400, 404):
            return None  # unknown, another merchant's, or not a vault id at all
        if response.status_code != 200:
            raise VaultUnavailable(f"the vault could not read the card: {_error_of(response)}")
        return to_saved_card(merchant_id, response.json())

    async def register_publishable_key(self, key: PublishableKey) -> None:
        path, body = _key_registration(key)
        _check_registered(await self._request("PUT", path, json=body))

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self._http is None:
            raise VaultUnavailable(
                "this process has no certificate for the card vault (payplane certs init)"
            )
        try:
            return await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise VaultUnavailable(f"the vault is unreachable ({type(exc).__name__})") from exc
