from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from simulator_support import authorize, post

from psp_simulator import Settings

pytestmark = pytest.mark.anyio

VALID = {
    "amount": 1000,
    "currency": "usd",
    "payment_method": "pm_card_visa",
    "merchant_reference": "r",
}


@pytest.mark.parametrize("header", [None, "Bearer wrong", "psk_test_unit", "Basic psk_test_unit"])
async def test_v1_requires_the_bearer_api_key(
    client: httpx.AsyncClient, header: str | None
) -> None:
    client.headers.pop("Authorization")
    if header is not None:
        client.headers["Authorization"] = header
    for response in (
        await client.post("/v1/authorizations", json=VALID, headers={"Idempotency-Key": "a"}),
        await client.get("/v1/authorizations/psp_x"),
        await client.get("/v1/operations/a"),
    ):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
    assert (await client.get("/admin/stats")).json()["operations"] == 0


async def test_healthz_needs_no_auth(client: httpx.AsyncClient) -> None:
    client.headers.pop("Authorization")
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.mark.parametrize(
    ("change", "code", "param"),
    [
        ({"amount": 0}, "parameter_invalid", "amount"),
        ({"amount": "1000"}, "parameter_invalid", "amount"),
        ({"amount": 100_000_000}, "parameter_invalid", "amount"),
        ({"currency": "USD"}, "parameter_invalid", "currency"),
        ({"currency": "usdx"}, "parameter_invalid", "currency"),
        ({"merchant_reference": None}, "parameter_invalid", "merchant_reference"),
        ({"capture": "yes"}, "parameter_invalid", "capture"),
        ({"metadata": {}}, "parameter_unknown", "metadata"),
    ],
)
async def test_invalid_authorization_requests(
    client: httpx.AsyncClient, change: dict[str, object], code: str, param: str
) -> None:
    response = await post(client, "/v1/authorizations", {**VALID, **change})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, param)
    assert error["message"]


async def test_a_missing_field_names_its_param(client: httpx.AsyncClient) -> None:
    body = {k: v for k, v in VALID.items() if k != "amount"}
    error = (await post(client, "/v1/authorizations", body)).json()["error"]
    assert (error["code"], error["param"]) == ("parameter_missing", "amount")


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 1, "currency": "usd", "merchant_reference": "r"},
        {
            **VALID,
            "card": {"number": "4242424242424242", "exp_month": 1, "exp_year": 2099, "cvc": "1"},
        },
    ],
)
async def test_exactly_one_payment_source(client: httpx.AsyncClient, body: object) -> None:
    response = await post(client, "/v1/authorizations", body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parameter_invalid"


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'"text"'])
async def test_bodies_must_be_json_objects(client: httpx.AsyncClient, content: bytes) -> None:
    response = await client.post(
        "/v1/authorizations", content=content, headers={"Idempotency-Key": "j"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


async def test_unknown_routes_use_the_error_shape(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/nothing-here")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    wrong_method = await client.delete("/v1/authorizations/psp_x")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


async def test_overlong_idempotency_key(client: httpx.AsyncClient) -> None:
    response = await authorize(client, key="k" * 256)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_invalid"


def test_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PSP_SIMULATOR_PORT", "9123")
    monkeypatch.setenv("PSP_SIMULATOR_API_KEY", "psk_env")
    monkeypatch.setenv("PSP_SIMULATOR_DB_PATH", str(tmp_path / "x.sqlite3"))
    monkeypatch.setenv("PSP_SIMULATOR_LOG_LEVEL", "DEBUG")
    settings = Settings()
    assert (settings.host, settings.port, settings.api_key) == ("127.0.0.1", 9123, "psk_env")
    assert settings.db_path == tmp_path / "x.sqlite3"
    assert settings.log_level == "debug"


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HOST", "PORT", "API_KEY", "DB_PATH", "LOG_LEVEL"):
        monkeypatch.delenv(f"PSP_SIMULATOR_{name}", raising=False)
    settings = Settings()
    assert settings.port == 8100
    assert settings.api_key == "psk_test_simulator"
    assert settings.db_path == Path(".payplane/psp_simulator.sqlite3")
