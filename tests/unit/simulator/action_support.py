"""Helpers for products, hosted pages and customer actions (fixtures live in conftest.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
from simulator_support import post

RETURN_URL = "https://shop.test/return"
PATHS = {
    "card": "/v1/authorizations",
    "wallet": "/v1/wallet_payments",
    "bank_redirect": "/v1/bank_redirects",
    "bank_debit": "/v1/direct_debits",
}
# A valid body for each product, before overrides.
DEFAULTS: dict[str, dict[str, object]] = {
    "card": {"payment_method": "pm_card_authenticationRequired", "currency": "usd"},
    "wallet": {"payment_method": "pm_paypal", "currency": "usd", "return_url": RETURN_URL},
    "bank_redirect": {
        "payment_method": "pm_ideal",
        "currency": "eur",
        "capture": True,
        "return_url": RETURN_URL,
    },
    "bank_debit": {"payment_method": "pm_sepa_debit", "currency": "eur", "capture": True},
}


async def create(
    client: httpx.AsyncClient, product: str, key: str | None = None, **overrides: object
) -> httpx.Response:
    """POST to `product`'s create endpoint; an override set to None leaves the field out."""
    body: dict[str, object] = {"amount": 1234, "merchant_reference": "order_7"}
    body.update(DEFAULTS[product])
    body.update(overrides)
    sent = {field: value for field, value in body.items() if value is not None}
    return await post(client, PATHS[product], sent, key)


async def created(
    client: httpx.AsyncClient, product: str, key: str | None = None, **overrides: object
) -> dict[str, Any]:
    response = await create(client, product, key, **overrides)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def page_path(authorization: dict[str, Any]) -> str:
    """The hosted page's path, from the next_action of a payment waiting for its customer."""
    assert authorization["next_action"]["type"] == "redirect"
    path: str = urlsplit(authorization["next_action"]["url"]).path
    return path


async def complete(
    client: httpx.AsyncClient, authorization: dict[str, Any], action: str, path: str | None = None
) -> httpx.Response:
    """Press a button of the hosted page; `path` defaults to the page of next_action."""
    page = path or page_path(authorization)
    return await client.post(f"{page}/complete", data={"action": action})


async def fetch(client: httpx.AsyncClient, authorization_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/authorizations/{authorization_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def set_timing(client: httpx.AsyncClient, **timing: object) -> dict[str, Any]:
    response = await client.post("/admin/method_timing", json=timing)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def decline(code: str, decline_code: str, message: str) -> dict[str, str]:
    return {"code": code, "decline_code": decline_code, "message": message}


EXPIRED = decline(
    "authentication_failed",
    "authentication_failed",
    "The customer did not complete the required action in time.",
)
