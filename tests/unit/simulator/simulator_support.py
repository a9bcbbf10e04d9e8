"""Request helpers shared by the simulator tests (fixtures live in conftest.py)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

API_KEY = "psk_test_unit"


async def post(
    client: httpx.AsyncClient, path: str, body: object, key: str | None = None
) -> httpx.Response:
    """POST with a fresh Idempotency-Key unless one is given."""
    return await client.post(
        path, json=body, headers={"Idempotency-Key": key or f"key-{uuid.uuid4().hex}"}
    )


async def authorize(
    client: httpx.AsyncClient, key: str | None = None, **overrides: object
) -> httpx.Response:
    body: dict[str, object] = {
        "amount": 1000,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "merchant_reference": "order_1",
    }
    body.update(overrides)
    return await post(client, "/v1/authorizations", body, key)


async def stats(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/admin/stats")
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


async def captured_id(client: httpx.AsyncClient, amount: int = 1000) -> str:
    """A captured authorization of `amount`: what refunds and disputes need."""
    response = await authorize(client, amount=amount, capture=True)
    assert response.json()["status"] == "captured"
    authorization_id: str = response.json()["id"]
    return authorization_id
