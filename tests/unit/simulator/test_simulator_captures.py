from __future__ import annotations

import httpx
import pytest
from simulator_support import authorize, post, stats

pytestmark = pytest.mark.anyio


async def authorized_id(client: httpx.AsyncClient, amount: int = 1000) -> str:
    response = await authorize(client, amount=amount)
    assert response.json()["status"] == "authorized"
    authorization_id: str = response.json()["id"]
    return authorization_id


async def test_full_capture_defaults_to_the_authorized_amount(client: httpx.AsyncClient) -> None:
    authorization_id = await authorized_id(client)
    captured = await post(client, f"/v1/authorizations/{authorization_id}/capture", {})
    assert captured.status_code == 200
    assert captured.json()["status"] == "captured"
    assert captured.json()["captured_amount"] == 1000


async def test_partial_capture_releases_the_rest(client: httpx.AsyncClient) -> None:
    authorization_id = await authorized_id(client)
    path = f"/v1/authorizations/{authorization_id}/capture"
    captured = await post(client, path, {"amount": 400})
    assert captured.status_code == 200
    assert (captured.json()["status"], captured.json()["captured_amount"]) == ("captured", 400)
    assert captured.json()["amount"] == 1000

    again = await post(client, path, {"amount": 600})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_state"
    fetched = await client.get(f"/v1/authorizations/{authorization_id}")
    assert fetched.json() == captured.json()


async def test_capture_above_the_authorized_amount_is_refused(client: httpx.AsyncClient) -> None:
    authorization_id = await authorized_id(client)
    path = f"/v1/authorizations/{authorization_id}/capture"
    too_large = await post(client, path, {"amount": 1001})
    assert too_large.status_code == 400
    assert too_large.json()["error"]["code"] == "amount_too_large"
    assert (await client.get(f"/v1/authorizations/{authorization_id}")).json()["status"] == (
        "authorized"
    )
    assert (await post(client, path, {"amount": 1000})).status_code == 200


@pytest.mark.parametrize("amount", [0, -5, "100", 1.5, True])
async def test_capture_amount_must_be_a_positive_integer(
    client: httpx.AsyncClient, amount: object
) -> None:
    authorization_id = await authorized_id(client)
    response = await post(
        client, f"/v1/authorizations/{authorization_id}/capture", {"amount": amount}
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "amount"


async def test_capture_of_an_unknown_authorization_is_not_found(client: httpx.AsyncClient) -> None:
    response = await post(client, "/v1/authorizations/psp_nope/capture", {"amount": 1})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_authorize_and_capture_at_once(client: httpx.AsyncClient) -> None:
    response = await authorize(client, capture=True, amount=2500)
    assert (response.json()["status"], response.json()["captured_amount"]) == ("captured", 2500)
    void = await post(client, f"/v1/authorizations/{response.json()['id']}/void", {})
    assert void.status_code == 409


async def test_void_releases_an_authorization_once(client: httpx.AsyncClient) -> None:
    authorization_id = await authorized_id(client)
    voided = await post(client, f"/v1/authorizations/{authorization_id}/void", {})
    assert voided.status_code == 200
    assert (voided.json()["status"], voided.json()["captured_amount"]) == ("voided", 0)

    for action, body in (("void", {}), ("capture", {"amount": 1})):
        response = await post(client, f"/v1/authorizations/{authorization_id}/{action}", body)
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "invalid_state"
    assert (await stats(client))["authorizations"]["voided"] == 1


async def test_void_accepts_an_empty_body(client: httpx.AsyncClient) -> None:
    authorization_id = await authorized_id(client)
    response = await client.post(
        f"/v1/authorizations/{authorization_id}/void", headers={"Idempotency-Key": "empty"}
    )
    assert response.status_code == 200
    assert response.json()["status"] == "voided"


async def test_declined_authorizations_cannot_be_captured(client: httpx.AsyncClient) -> None:
    declined = await authorize(client, payment_method="pm_card_visa_chargeDeclined")
    response = await post(client, f"/v1/authorizations/{declined.json()['id']}/capture", {})
    assert response.status_code == 409


async def test_get_unknown_authorization(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/authorizations/psp_0000")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
