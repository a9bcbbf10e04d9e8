from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from simulator_support import authorize, captured_id, post, stats

pytestmark = pytest.mark.anyio

# Long enough for a few in-process requests to see the refund still pending, short enough to wait.
DELAY = 0.2


async def set_behavior(client: httpx.AsyncClient, mode: str, delay: float = DELAY) -> None:
    response = await client.post(
        "/admin/refund_behavior", json={"mode": mode, "delay_seconds": delay}
    )
    assert response.status_code == 200, response.text


async def refund(
    client: httpx.AsyncClient, authorization_id: str, key: str | None = None, **body: object
) -> httpx.Response:
    return await post(client, f"/v1/authorizations/{authorization_id}/refunds", body, key)


async def refund_status(client: httpx.AsyncClient, refund_id: str) -> Any:
    response = await client.get(f"/v1/refunds/{refund_id}")
    assert response.status_code == 200
    return response.json()["status"]


async def test_a_refund_succeeds_by_default_for_what_is_left(client: httpx.AsyncClient) -> None:
    authorization_id = await captured_id(client)
    assert (await refund(client, authorization_id, amount=300)).status_code == 200
    response = await refund(client, authorization_id)
    assert response.status_code == 200
    body = response.json()
    assert body["id"].startswith("psr_")
    assert isinstance(body["created"], int)
    assert {k: v for k, v in body.items() if k not in ("id", "created")} == {
        "object": "refund",
        "authorization": authorization_id,
        "amount": 700,
        "currency": "usd",
        "status": "succeeded",
        "failure_reason": None,
    }
    assert (await client.get(f"/v1/refunds/{body['id']}")).json() == body


async def test_refunds_may_not_exceed_the_captured_amount_in_sum(
    client: httpx.AsyncClient,
) -> None:
    authorization_id = await captured_id(client)
    assert (await refund(client, authorization_id, amount=1001)).status_code == 400
    assert (await refund(client, authorization_id, amount=600)).status_code == 200
    too_large = await refund(client, authorization_id, amount=401, key="too-large")
    assert too_large.status_code == 400
    assert (too_large.json()["error"]["code"], too_large.json()["error"]["param"]) == (
        "amount_too_large",
        "amount",
    )
    # Like capture's amount_too_large, the refusal is a stored outcome.
    assert (await client.get("/v1/operations/too-large")).json()["status_code"] == 400
    assert (await refund(client, authorization_id, amount=400)).status_code == 200
    in_full = await refund(client, authorization_id)
    assert in_full.status_code == 400
    assert in_full.json()["error"]["code"] == "amount_too_large"
    assert (await stats(client))["refunds"]["succeeded"] == 2


async def test_only_a_captured_authorization_can_be_refunded(client: httpx.AsyncClient) -> None:
    authorized = (await authorize(client)).json()["id"]
    declined = (await authorize(client, payment_method="pm_card_visa_chargeDeclined")).json()["id"]
    voided = (await authorize(client)).json()["id"]
    assert (await post(client, f"/v1/authorizations/{voided}/void", {})).status_code == 200
    for authorization_id in (authorized, declined, voided):
        response = await refund(client, authorization_id, amount=1)
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "invalid_state"
    missing = await refund(client, "psp_missing")
    assert missing.status_code == 404
    assert (await stats(client))["refunds"]["total"] == 0


@pytest.mark.parametrize("amount", [0, -5, "100", 1.5, True])
async def test_refund_amount_must_be_a_positive_integer(
    client: httpx.AsyncClient, amount: object
) -> None:
    response = await refund(client, await captured_id(client), key="bad", amount=amount)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "amount"
    assert (await client.get("/v1/operations/bad")).status_code == 404


async def test_fail_mode_fails_at_once_and_refunds_nothing(client: httpx.AsyncClient) -> None:
    authorization_id = await captured_id(client)
    await set_behavior(client, "fail")
    failed = (await refund(client, authorization_id)).json()
    assert (failed["status"], failed["failure_reason"]) == ("failed", "insufficient_funds")

    await set_behavior(client, "succeed")
    retried = (await refund(client, authorization_id)).json()
    assert (retried["status"], retried["amount"]) == ("succeeded", 1000)


async def test_pending_then_succeed_settles_once_due(client: httpx.AsyncClient) -> None:
    authorization_id = await captured_id(client)
    await set_behavior(client, "pending_then_succeed")
    created = await refund(client, authorization_id, key="r1")
    assert (created.json()["status"], created.json()["failure_reason"]) == ("pending", None)
    assert await refund_status(client, created.json()["id"]) == "pending"
    # Pending money is spoken for.
    assert (await refund(client, authorization_id, amount=1)).status_code == 400

    await asyncio.sleep(DELAY)
    settled = (await client.get(f"/v1/refunds/{created.json()['id']}")).json()
    assert (settled["status"], settled["failure_reason"]) == ("succeeded", None)
    # What was answered then is what a replay and the operation lookup answer.
    replay = await refund(client, authorization_id, key="r1")
    assert replay.content == created.content
    assert (await client.get("/v1/operations/r1")).json()["response"]["status"] == "pending"


async def test_pending_then_fail_frees_the_amount(client: httpx.AsyncClient) -> None:
    authorization_id = await captured_id(client)
    await set_behavior(client, "pending_then_fail")
    created = (await refund(client, authorization_id)).json()
    assert created["status"] == "pending"
    counts = (await stats(client))["refunds"]
    assert (counts["pending"], counts["failed"]) == (1, 0)

    await asyncio.sleep(DELAY)
    # Creating a refund settles first, so the failed one no longer holds the amount back.
    await set_behavior(client, "succeed")
    assert (await refund(client, authorization_id, amount=1000)).status_code == 200
    failed = (await client.get(f"/v1/refunds/{created['id']}")).json()
    assert (failed["status"], failed["failure_reason"]) == ("failed", "insufficient_funds")
    assert (await stats(client))["refunds"] == {
        "total": 2,
        "pending": 0,
        "succeeded": 1,
        "failed": 1,
        "canceled": 0,
    }


async def test_a_pending_refund_can_be_canceled_once(client: httpx.AsyncClient) -> None:
    authorization_id = await captured_id(client)
    await set_behavior(client, "pending_then_succeed")
    refund_id = (await refund(client, authorization_id)).json()["id"]
    canceled = await post(client, f"/v1/refunds/{refund_id}/cancel", {}, key="c1")
    assert canceled.status_code == 200
    assert (canceled.json()["status"], canceled.json()["failure_reason"]) == ("canceled", None)
    assert (await post(client, f"/v1/refunds/{refund_id}/cancel", {}, key="c1")).content == (
        canceled.content
    )
    again = await post(client, f"/v1/refunds/{refund_id}/cancel", {})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "invalid_state")

    # Its due time passes without effect, and its amount is free again.
    await asyncio.sleep(DELAY)
    assert await refund_status(client, refund_id) == "canceled"
    assert (await refund(client, authorization_id, amount=1000)).status_code == 200
    assert (await stats(client))["refunds"]["canceled"] == 1


@pytest.mark.parametrize("mode", ["succeed", "fail", "pending_then_succeed", "pending_then_fail"])
async def test_a_settled_refund_cannot_be_canceled(client: httpx.AsyncClient, mode: str) -> None:
    await set_behavior(client, mode, delay=0.0)
    refund_id = (await refund(client, await captured_id(client))).json()["id"]
    response = await post(client, f"/v1/refunds/{refund_id}/cancel", {})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_state"
    assert await refund_status(client, refund_id) in ("succeeded", "failed")


async def test_unknown_refunds_are_not_found(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/refunds/psr_missing")).status_code == 404
    cancel = await post(client, "/v1/refunds/psr_missing/cancel", {})
    assert (cancel.status_code, cancel.json()["error"]["code"]) == (404, "not_found")
    assert (await post(client, "/v1/refunds/psr_x/cancel", {"force": True})).status_code == 400


async def test_refund_create_is_idempotent(client: httpx.AsyncClient) -> None:
    authorization_id = await captured_id(client)
    first = await refund(client, authorization_id, key="once", amount=100)
    replay = await refund(client, authorization_id, key="once", amount=100)
    assert replay.content == first.content
    assert replay.headers["idempotent-replayed"] == "true"
    reused = await refund(client, authorization_id, key="once", amount=200)
    assert (reused.status_code, reused.json()["error"]["code"]) == (409, "idempotency_key_reused")
    missing_key = await client.post(f"/v1/authorizations/{authorization_id}/refunds", json={})
    assert missing_key.status_code == 400
    assert (await stats(client))["refunds"]["total"] == 1


async def test_faults_apply_to_refunds(client: httpx.AsyncClient) -> None:
    authorization_id = await captured_id(client)
    await client.post("/admin/faults", json={"error_rate": 1.0, "paths": ["/v1/authorizations/"]})
    assert (await refund(client, authorization_id)).status_code == 503
    assert (await stats(client))["refunds"]["total"] == 0


async def test_refund_behavior_is_an_operator_setting(client: httpx.AsyncClient) -> None:
    default = {"mode": "succeed", "delay_seconds": 2.0}
    assert (await client.get("/admin/refund_behavior")).json() == default
    await set_behavior(client, "pending_then_fail", delay=0.5)
    assert (await client.get("/admin/refund_behavior")).json() == {
        "mode": "pending_then_fail",
        "delay_seconds": 0.5,
    }
    for invalid in ({"mode": "sometimes"}, {"delay_seconds": -1}, {"extra": 1}):
        assert (await client.post("/admin/refund_behavior", json=invalid)).status_code == 400
    assert (await client.post("/admin/reset")).status_code == 200
    assert (await client.get("/admin/refund_behavior")).json() == default
