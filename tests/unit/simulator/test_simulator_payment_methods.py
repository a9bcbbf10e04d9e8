"""Wallets, bank redirects and direct debits: their endpoints' rules, lifecycles and timings."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from action_support import (
    RETURN_URL,
    complete,
    create,
    created,
    decline,
    fetch,
    page_path,
    set_timing,
)
from simulator_support import post, stats

pytestmark = pytest.mark.anyio

WALLET_DECLINED = decline(
    "wallet_declined", "wallet_declined", "The wallet provider declined the payment."
)
WALLET_CANCELED = decline(
    "authentication_failed",
    "authentication_failed",
    "The customer canceled the payment at the wallet.",
)
BANK_DECLINED = decline(
    "bank_declined", "bank_declined", "The customer's bank declined the payment."
)
CARD = {"number": "4242424242424242", "exp_month": 1, "exp_year": 2099, "cvc": "123"}
DEBIT_FAILED = decline(
    "debit_failed",
    "insufficient_funds",
    "The debit was returned by the customer's bank: insufficient funds.",
)


async def test_a_wallet_payment_is_authorized_then_captured(client: httpx.AsyncClient) -> None:
    waiting = await created(client, "wallet")
    assert (waiting["status"], waiting["product"]) == ("requires_action", "wallet")
    assert page_path(waiting) == f"/pages/wallet/{waiting['id']}"
    page = (await client.get(page_path(waiting))).text
    assert "<h1>Pay with Wallet</h1>" in page
    assert ">Pay now</button>" in page
    assert ">Cancel and return</button>" in page

    response = await complete(client, waiting, "approve")
    assert response.headers["location"] == f"{RETURN_URL}?authorization={waiting['id']}"
    assert (await fetch(client, waiting["id"]))["status"] == "authorized"
    captured = await post(client, f"/v1/authorizations/{waiting['id']}/capture", {"amount": 1000})
    assert (captured.json()["status"], captured.json()["captured_amount"]) == ("captured", 1000)


@pytest.mark.parametrize(
    ("token", "action", "capture", "status", "outcome"),
    [
        ("pm_paypal", "approve", True, "captured", None),
        ("pm_paypal_declined", "approve", False, "declined", WALLET_DECLINED),
        ("pm_paypal", "fail", False, "declined", WALLET_CANCELED),
    ],
)
async def test_wallet_outcomes(
    client: httpx.AsyncClient,
    token: str,
    action: str,
    capture: bool,
    status: str,
    outcome: dict[str, str] | None,
) -> None:
    waiting = await created(client, "wallet", payment_method=token, capture=capture)
    await complete(client, waiting, action)
    done = await fetch(client, waiting["id"])
    assert (done["status"], done["decline"]) == (status, outcome)
    assert done["captured_amount"] == (1234 if status == "captured" else 0)


async def test_a_bank_redirect_is_pending_until_the_bank_settles(
    client: httpx.AsyncClient,
) -> None:
    await set_timing(client, bank_redirect_settle_seconds=0.05)
    waiting = await created(client, "bank_redirect")
    assert (waiting["status"], waiting["product"]) == ("requires_action", "bank_redirect")
    page = (await client.get(page_path(waiting))).text
    assert "<h1>Pay with your bank</h1>" in page
    assert ">Authorize payment</button>" in page
    assert "12.34 EUR" in page

    await complete(client, waiting, "approve")
    pending = await fetch(client, waiting["id"])
    assert (pending["status"], pending["captured_amount"], pending["next_action"]) == (
        "pending",
        0,
        None,
    )
    assert '<strong id="status">pending</strong>' in (await client.get(page_path(waiting))).text
    # A pending payment can be neither voided nor captured.
    for action in ("void", "capture"):
        refused = await post(client, f"/v1/authorizations/{waiting['id']}/{action}", {})
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "invalid_state")
    await asyncio.sleep(0.1)
    settled = await fetch(client, waiting["id"])
    assert (settled["status"], settled["captured_amount"], settled["decline"]) == (
        "captured",
        1234,
        None,
    )
    capture = await post(client, f"/v1/authorizations/{waiting['id']}/capture", {})
    assert capture.status_code == 409
    assert "only card and wallet payments can be captured" in capture.json()["error"]["message"]


async def test_the_bank_page_can_decline(client: httpx.AsyncClient) -> None:
    waiting = await created(client, "bank_redirect")
    await complete(client, waiting, "fail")
    done = await fetch(client, waiting["id"])
    assert (done["status"], done["decline"]) == ("declined", BANK_DECLINED)


@pytest.mark.parametrize(
    ("token", "status", "outcome"),
    [("pm_sepa_debit", "captured", None), ("pm_sepa_debit_fails", "declined", DEBIT_FAILED)],
)
async def test_a_direct_debit_is_pending_then_settles(
    client: httpx.AsyncClient, token: str, status: str, outcome: dict[str, str] | None
) -> None:
    await set_timing(client, bank_debit_settle_seconds=0)
    # No customer step: return_url is accepted and ignored.
    pending = await created(client, "bank_debit", payment_method=token, return_url=RETURN_URL)
    assert (pending["status"], pending["product"], pending["next_action"]) == (
        "pending",
        "bank_debit",
        None,
    )
    assert (pending["decline"], pending["expires_at"]) == (None, None)
    settled = await fetch(client, pending["id"])
    assert (settled["status"], settled["decline"]) == (status, outcome)
    assert settled["captured_amount"] == (1234 if status == "captured" else 0)
    for kind in ("3ds", "wallet", "bank"):
        assert (await client.get(f"/pages/{kind}/{pending['id']}")).status_code == 404


async def test_pending_payments_wait_for_their_delay(client: httpx.AsyncClient) -> None:
    pending = await created(client, "bank_debit")
    await set_timing(client, bank_debit_settle_seconds=0)
    # The delay in force at creation (5 s by default) holds, not the one set since.
    assert (await fetch(client, pending["id"]))["status"] == "pending"
    assert (await stats(client))["authorizations"]["pending"] == 1


@pytest.mark.parametrize(
    ("mode", "final"),
    [
        ("succeed", "succeeded"),
        ("pending_then_succeed", "succeeded"),
        ("fail", "failed"),
        ("pending_then_fail", "failed"),
    ],
)
async def test_direct_debit_refunds_are_pending_first(
    client: httpx.AsyncClient, mode: str, final: str
) -> None:
    await set_timing(client, bank_debit_settle_seconds=0, bank_debit_refund_settle_seconds=0.05)
    debit = await created(client, "bank_debit")
    # Refunding reads the debit as it stands now: settled.
    await client.post("/admin/refund_behavior", json={"mode": mode, "delay_seconds": 60})
    refund = await post(client, f"/v1/authorizations/{debit['id']}/refunds", {"amount": 200})
    assert refund.status_code == 200, refund.text
    assert refund.json()["status"] == "pending"
    await asyncio.sleep(0.1)
    assert (await client.get(f"/v1/refunds/{refund.json()['id']}")).json()["status"] == final


@pytest.mark.parametrize(
    ("product", "change", "code", "param"),
    [
        ("wallet", {"currency": "jpy"}, "currency_not_supported", "currency"),
        ("bank_redirect", {"currency": "usd"}, "currency_not_supported", "currency"),
        ("bank_debit", {"currency": "gbp"}, "currency_not_supported", "currency"),
        ("bank_redirect", {"capture": False}, "capture_not_supported", "capture"),
        ("bank_debit", {"capture": False}, "capture_not_supported", "capture"),
        ("wallet", {"return_url": None}, "parameter_missing", "return_url"),
        ("bank_redirect", {"return_url": None}, "parameter_missing", "return_url"),
        ("card", {"payment_method": "pm_paypal"}, "invalid_payment_method", "payment_method"),
        ("card", {"payment_method": "pm_sepa_debit"}, "invalid_payment_method", "payment_method"),
        ("wallet", {"payment_method": "pm_ideal"}, "invalid_payment_method", "payment_method"),
        (
            "bank_debit",
            {"payment_method": "pm_card_visa"},
            "invalid_payment_method",
            "payment_method",
        ),
        (
            "bank_redirect",
            {"payment_method": "pm_card_authenticationRequired"},
            "invalid_payment_method",
            "payment_method",
        ),
        ("wallet", {"payment_method": "pm_paypal_x"}, "invalid_payment_method", "payment_method"),
        ("wallet", {"payment_method": None, "card": CARD}, "invalid_payment_method", "card"),
    ],
)
async def test_bad_requests_are_refused_and_store_nothing(
    client: httpx.AsyncClient, product: str, change: dict[str, object], code: str, param: str
) -> None:
    response = await create(client, product, None, **change)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert error["message"]
    counts = await stats(client)
    assert (counts["authorizations"]["total"], counts["operations"]) == (0, 0)
    assert (await client.get("/admin/webhooks/stats")).json()["pending"] == 0


async def test_a_wrong_product_token_names_the_right_endpoint(client: httpx.AsyncClient) -> None:
    response = await create(client, "card", payment_method="pm_paypal")
    assert "POST /v1/wallet_payments" in response.json()["error"]["message"]


async def test_method_timing_is_replaced_whole_and_reset(client: httpx.AsyncClient) -> None:
    defaults = {
        "bank_redirect_settle_seconds": 2.0,
        "bank_debit_settle_seconds": 5.0,
        "bank_debit_refund_settle_seconds": 5.0,
        "action_timeout_seconds": 3600.0,
    }
    assert (await client.get("/admin/method_timing")).json() == defaults
    await set_timing(client, bank_debit_settle_seconds=1.5, action_timeout_seconds=60)
    await set_timing(client, bank_redirect_settle_seconds=0.5)
    assert (await client.get("/admin/method_timing")).json() == {
        **defaults,
        "bank_redirect_settle_seconds": 0.5,
    }
    for bad in ({"action_timeout_seconds": 0}, {"bank_debit_settle_seconds": -1}, {"x": 1}):
        assert (await client.post("/admin/method_timing", json=bad)).status_code == 400
    assert (await client.post("/admin/reset")).status_code == 200
    assert (await client.get("/admin/method_timing")).json() == defaults


async def test_stats_count_payments_waiting_for_customers_and_banks(
    client: httpx.AsyncClient,
) -> None:
    await created(client, "card")
    await created(client, "wallet")
    await created(client, "bank_debit")
    counts = (await stats(client))["authorizations"]
    assert (counts["total"], counts["requires_action"], counts["pending"]) == (3, 2, 1)
