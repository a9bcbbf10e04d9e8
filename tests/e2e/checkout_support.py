"""Helpers for tests that pay through customer actions: create, confirm, watch the intent."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from tests.e2e.support import query, wait_for


def create_intent(client: httpx.Client, **params: Any) -> httpx.Response:
    return client.post(
        "/v1/payment_intents",
        data={"amount": 2000, "currency": "eur", **params},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )


def confirm_intent(client: httpx.Client, intent_id: str, **params: Any) -> httpx.Response:
    return client.post(
        f"/v1/payment_intents/{intent_id}/confirm",
        data=params,
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )


def pay(
    client: httpx.Client, return_url: str, payment_method: str, **params: Any
) -> dict[str, Any]:
    """Create and confirm; the answer of the confirmation."""
    types = params.pop("payment_method_types", None)
    extra = {"payment_method_types[0]": types} if types else {}
    intent = create_intent(client, **extra, **params).json()
    confirmed = confirm_intent(
        client, intent["id"], payment_method=payment_method, return_url=return_url
    )
    assert confirmed.status_code == 200, confirmed.text
    body: dict[str, Any] = confirmed.json()
    return body


def intent_of(client: httpx.Client, intent_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/v1/payment_intents/{intent_id}").json()
    return body


def status_becomes(client: httpx.Client, intent_id: str, status: str) -> dict[str, Any]:
    found: dict[str, Any] = wait_for(
        lambda: (i := intent_of(client, intent_id))["status"] == status and i,
        what=f"{intent_id} to be {status}",
    )
    return found


def journal_kinds(platform: Any, intent_id: str) -> list[str]:
    """The kinds of the payment's journals, sorted (journal ids are not in time order)."""
    rows = query(
        platform, "SELECT kind FROM ledger_journals WHERE payment_intent_id = %s", intent_id
    )
    return sorted(row["kind"] for row in rows)


def event_types(platform: Any, intent_id: str) -> list[str]:
    rows = query(
        platform, "SELECT type FROM events WHERE payment_intent_id = %s ORDER BY seq", intent_id
    )
    return [row["type"] for row in rows]
