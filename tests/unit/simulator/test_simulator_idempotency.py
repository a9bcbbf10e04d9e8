from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from simulator_support import API_KEY, authorize, post, stats

from psp_simulator import Settings, create_app

pytestmark = pytest.mark.anyio


async def test_replay_returns_the_identical_response_and_creates_nothing(
    client: httpx.AsyncClient,
) -> None:
    first = await authorize(client, key="order-1-attempt-1")
    assert first.status_code == 200
    assert "idempotent-replayed" not in first.headers

    replay = await authorize(client, key="order-1-attempt-1")
    assert replay.status_code == 200
    assert replay.content == first.content
    assert replay.headers["idempotent-replayed"] == "true"
    counts = await stats(client)
    assert counts["authorizations"] == {
        "total": 1,
        "requires_action": 0,
        "pending": 0,
        "authorized": 1,
        "captured": 0,
        "voided": 0,
        "declined": 0,
    }
    assert counts["operations"] == 1


async def test_key_order_and_whitespace_do_not_change_the_fingerprint(
    client: httpx.AsyncClient,
) -> None:
    headers = {"Idempotency-Key": "k", "Content-Type": "application/json"}
    first = await client.post(
        "/v1/authorizations",
        content=b'{"amount":5,"currency":"usd","payment_method":"pm_card_visa",'
        b'"merchant_reference":"r"}',
        headers=headers,
    )
    second = await client.post(
        "/v1/authorizations",
        content=b'{ "merchant_reference": "r", "payment_method": "pm_card_visa",\n'
        b'  "currency": "usd", "amount": 5 }',
        headers=headers,
    )
    assert second.status_code == 200
    assert second.content == first.content


async def test_declines_are_replayed_too(client: httpx.AsyncClient) -> None:
    first = await authorize(client, key="d", payment_method="pm_card_visa_chargeDeclined")
    replay = await authorize(client, key="d", payment_method="pm_card_visa_chargeDeclined")
    assert replay.content == first.content
    assert (await stats(client))["operations"] == 1


async def test_reusing_a_key_with_another_body_is_a_conflict(client: httpx.AsyncClient) -> None:
    assert (await authorize(client, key="k1", amount=1000)).status_code == 200
    conflict = await authorize(client, key="k1", amount=2000)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_key_reused"
    assert (await stats(client))["authorizations"]["total"] == 1


async def test_reusing_a_key_on_another_path_is_a_conflict(client: httpx.AsyncClient) -> None:
    authorization_id = (await authorize(client, key="k2")).json()["id"]
    conflict = await post(client, f"/v1/authorizations/{authorization_id}/void", {}, key="k2")
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_key_reused"
    fetched = await client.get(f"/v1/authorizations/{authorization_id}")
    assert fetched.json()["status"] == "authorized"


async def test_a_missing_idempotency_key_is_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/authorizations",
        json={"amount": 1, "currency": "usd", "payment_method": "pm_card_visa"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_missing"
    assert (await stats(client))["operations"] == 0


async def test_concurrent_duplicates_create_one_authorization(client: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(*(authorize(client, key="same") for _ in range(20)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert (await stats(client))["authorizations"]["total"] == 1


async def test_operation_lookup_returns_the_stored_response(client: httpx.AsyncClient) -> None:
    created = await authorize(client, key="lookup-me")
    lookup = await client.get("/v1/operations/lookup-me")
    assert lookup.status_code == 200
    assert lookup.json() == {
        "idempotency_key": "lookup-me",
        "status_code": 200,
        "response": created.json(),
    }
    missing = await client.get("/v1/operations/never-sent")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


async def test_business_errors_are_stored_but_bad_input_is_not(client: httpx.AsyncClient) -> None:
    not_found = await post(client, "/v1/authorizations/psp_missing/void", {}, key="v")
    assert not_found.status_code == 404
    assert (await client.get("/v1/operations/v")).json()["status_code"] == 404

    invalid = await authorize(client, key="bad", amount=0)
    assert invalid.status_code == 400
    assert (await client.get("/v1/operations/bad")).status_code == 404
    # Nothing was stored, so the caller may fix the body and reuse the key.
    assert (await authorize(client, key="bad", amount=10)).status_code == 200


async def test_stored_responses_survive_a_restart(settings: Settings) -> None:
    def connect(app: FastAPI) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://psp.test",
            headers={"Authorization": f"Bearer {API_KEY}"},
        )

    first_app = create_app(settings)
    async with first_app.router.lifespan_context(first_app), connect(first_app) as client:
        first = await authorize(client, key="durable")

    second_app = create_app(settings)
    async with second_app.router.lifespan_context(second_app), connect(second_app) as client:
        replay = await authorize(client, key="durable")
        assert replay.content == first.content
        assert replay.headers["idempotent-replayed"] == "true"
        assert (await stats(client))["operations"] == 1
