from __future__ import annotations

import time

import httpx
import pytest
from simulator_support import authorize, post, stats

pytestmark = pytest.mark.anyio


async def set_faults(client: httpx.AsyncClient, **config: object) -> None:
    response = await client.post("/admin/faults", json={"hang_seconds": 0.05, **config})
    assert response.status_code == 200, response.text


async def test_error_fault_answers_503_and_applies_nothing(client: httpx.AsyncClient) -> None:
    await set_faults(client, error_rate=1.0)
    response = await authorize(client, key="e")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    counts = await stats(client)
    assert counts["authorizations"] == {
        "total": 0,
        "requires_action": 0,
        "pending": 0,
        "authorized": 0,
        "captured": 0,
        "voided": 0,
        "declined": 0,
    }
    assert counts["operations"] == 0
    assert (await client.get("/v1/operations/e")).status_code == 404

    assert (await client.post("/admin/reset")).status_code == 200
    retried = await authorize(client, key="e")
    assert retried.status_code == 200
    assert "idempotent-replayed" not in retried.headers


async def test_timeout_fault_hangs_then_504_and_applies_nothing(client: httpx.AsyncClient) -> None:
    await set_faults(client, timeout_rate=1.0, hang_seconds=0.2)
    started = time.monotonic()
    response = await authorize(client, key="t")
    assert time.monotonic() - started >= 0.2
    assert response.status_code == 504
    assert (await stats(client))["operations"] == 0
    assert (await client.get("/v1/operations/t")).status_code == 404


async def test_dropped_response_is_applied_and_recoverable(client: httpx.AsyncClient) -> None:
    await set_faults(client, drop_response_rate=1.0)
    response = await authorize(client, key="drop")
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "gateway_timeout"

    counts = await stats(client)
    assert counts["authorizations"]["authorized"] == 1
    assert counts["operations"] == 1
    lookup = (await client.get("/v1/operations/drop")).json()
    assert lookup["status_code"] == 200
    assert lookup["response"]["status"] == "authorized"

    # Faults stay on, but a replay is never faulted: the retry learns what happened.
    replay = await authorize(client, key="drop")
    assert replay.status_code == 200
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == lookup["response"]
    assert (await stats(client))["authorizations"]["total"] == 1


async def test_faults_never_touch_lookups(client: httpx.AsyncClient) -> None:
    authorization_id = (await authorize(client, key="g")).json()["id"]
    await set_faults(client, error_rate=1.0, latency_ms=1)
    assert (await client.get(f"/v1/authorizations/{authorization_id}")).status_code == 200
    assert (await client.get("/v1/operations/g")).status_code == 200
    assert (await client.get("/healthz")).status_code == 200


async def test_path_prefixes_limit_where_faults_apply(client: httpx.AsyncClient) -> None:
    authorization_id = (await authorize(client)).json()["id"]
    await set_faults(client, error_rate=1.0, paths=["/v1/authorizations/psp_"])
    assert (await authorize(client)).status_code == 200
    void = await post(client, f"/v1/authorizations/{authorization_id}/void", {})
    assert void.status_code == 503


async def test_rates_are_honoured_statistically(client: httpx.AsyncClient) -> None:
    await set_faults(client, error_rate=0.5)
    codes = [(await authorize(client)).status_code for _ in range(400)]
    assert 120 < codes.count(503) < 280
    assert codes.count(503) + codes.count(200) == 400
    assert (await stats(client))["authorizations"]["total"] == codes.count(200)


async def test_latency_is_added(client: httpx.AsyncClient) -> None:
    await set_faults(client, latency_ms=150)
    started = time.monotonic()
    assert (await authorize(client)).status_code == 200
    assert time.monotonic() - started >= 0.15


async def test_fault_config_round_trips_and_resets(client: httpx.AsyncClient) -> None:
    await set_faults(client, error_rate=0.25, paths=["/v1/authorizations"])
    assert (await client.get("/admin/faults")).json() == {
        "latency_ms": 0,
        "error_rate": 0.25,
        "timeout_rate": 0.0,
        "drop_response_rate": 0.0,
        "hang_seconds": 0.05,
        "paths": ["/v1/authorizations"],
    }
    reset = await client.post("/admin/reset")
    assert reset.json()["error_rate"] == 0.0
    assert reset.json()["hang_seconds"] == 30.0
    assert (await client.get("/admin/faults")).json() == reset.json()


async def test_reset_keeps_data(client: httpx.AsyncClient) -> None:
    await authorize(client)
    await client.post("/admin/reset")
    assert (await stats(client))["authorizations"]["total"] == 1


@pytest.mark.parametrize(
    "config",
    [
        {"error_rate": 1.5},
        {"error_rate": 0.6, "drop_response_rate": 0.6},
        {"latency_ms": -1},
        {"paths": ["v1"]},
        {"surprise": 1},
    ],
)
async def test_invalid_fault_config_is_rejected(
    client: httpx.AsyncClient, config: dict[str, object]
) -> None:
    response = await client.post("/admin/faults", json=config)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert (await client.get("/admin/faults")).json()["error_rate"] == 0.0
