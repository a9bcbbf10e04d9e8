from __future__ import annotations

import asyncio

import httpx
import pytest
from settlement_support import amounts, rows, today
from simulator_support import post

pytestmark = pytest.mark.anyio

SETTLE_SECONDS = 0.05


async def create(client: httpx.AsyncClient, path: str, payment_method: str) -> str:
    body = {
        "amount": 1000,
        "currency": "eur",
        "merchant_reference": f"order_{payment_method}",
        "payment_method": payment_method,
        "capture": True,
        "return_url": "https://shop.test/done",
    }
    response = await post(client, path, body)
    assert response.status_code == 200, response.text
    authorization_id: str = response.json()["id"]
    return authorization_id


async def approve(client: httpx.AsyncClient, kind: str, authorization_id: str) -> None:
    response = await client.post(
        f"/pages/{kind}/{authorization_id}/complete", data={"action": "approve"}
    )
    assert response.status_code == 303, response.text


async def test_each_product_settles_with_its_fee_and_payment_method(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/admin/method_timing",
        json={
            "bank_redirect_settle_seconds": SETTLE_SECONDS,
            "bank_debit_settle_seconds": SETTLE_SECONDS,
        },
    )
    assert response.status_code == 200, response.text
    wallet = await create(client, "/v1/wallet_payments", "pm_paypal")
    await approve(client, "wallet", wallet)
    redirect = await create(client, "/v1/bank_redirects", "pm_ideal")
    await approve(client, "bank", redirect)
    debit = await create(client, "/v1/direct_debits", "pm_sepa_debit")
    # Pending payments have moved no money yet; they settle once the bank is done.
    await asyncio.sleep(SETTLE_SECONDS * 2)
    for authorization_id in (redirect, debit):
        status = (await client.get(f"/v1/authorizations/{authorization_id}")).json()["status"]
        assert status == "captured"

    table = await rows(client, today())
    assert [(row["Payment Method"], *amounts(row)) for row in table] == [
        ("paypal", "Settled", wallet, "EUR", "", "10.00", "EUR", "", "9.41", "0.59"),
        ("ideal", "Settled", redirect, "EUR", "", "10.00", "EUR", "", "9.71", "0.29"),
        ("sepadirectdebit", "Settled", debit, "EUR", "", "10.00", "EUR", "", "9.65", "0.35"),
        ("", "MerchantPayout", "", "", "", "", "EUR", "28.77", "", ""),
    ]
