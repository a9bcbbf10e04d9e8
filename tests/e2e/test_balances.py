"""Balances and ledger accounts of a fresh merchant, through the API and the stripe SDK, and the
ledger audit run as an operator would: `payplane ledger check` against the platform's database."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from tests.e2e.support import api, stripe_client


def _pay(client, amount: int, currency: str, *, manual: bool = False):
    params = {"amount": amount, "currency": currency, "payment_method": "pm_card_visa"}
    if manual:
        params["capture_method"] = "manual"
    return client.v1.payment_intents.create(params={**params, "confirm": True})


def _funds(amount: int, currency: str) -> dict:
    return {"amount": amount, "currency": currency, "source_types": {"card": amount}}


@pytest.fixture
def merchant(platform):
    """A fresh merchant with captures, a partial capture, a partial refund and cancels."""
    merchant_id, secret = platform.new_merchant("balances")
    client = stripe_client(platform, secret)
    paid = _pay(client, 10_000, "usd")
    held = _pay(client, 5_000, "usd", manual=True)
    client.v1.payment_intents.capture(held.id, params={"amount_to_capture": 3_000})
    refund = client.v1.refunds.create(params={"payment_intent": paid.id, "amount": 2_500})
    assert refund.status == "succeeded"
    client.v1.payment_intents.cancel(_pay(client, 4_000, "usd", manual=True).id)
    _pay(client, 1_200, "jpy")
    client.v1.payment_intents.cancel(_pay(client, 900, "jpy", manual=True).id)
    return merchant_id, secret, paid.id, held.id


def test_balance_is_what_the_merchant_is_owed(platform, merchant) -> None:
    _merchant_id, secret, _paid, _held = merchant
    with api(platform, secret) as http:
        response = http.get("/v1/balance")
    assert response.status_code == 200
    assert response.json() == {
        "object": "balance",
        "available": [_funds(0, "jpy"), _funds(0, "usd")],
        # usd: 10000 captured + 3000 of a 5000 hold - 2500 refunded; jpy: 1200 captured.
        "pending": [_funds(1_200, "jpy"), _funds(10_500, "usd")],
        "livemode": False,
    }
    balance = stripe_client(platform, secret).v1.balance.retrieve()
    assert [(f.currency, f.amount) for f in balance.pending] == [("jpy", 1_200), ("usd", 10_500)]
    with api(platform, secret) as http:
        unknown = http.get("/v1/balance", params={"currency": "usd"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["param"] == "currency"


def test_ledger_accounts_are_the_merchants_own(platform, merchant) -> None:
    merchant_id, secret, _paid, _held = merchant
    with api(platform, secret) as http:
        listed = http.get("/v1/ledger/accounts", params={"limit": 100}).json()
        jpy = http.get("/v1/ledger/accounts", params={"currency": "JPY"}).json()
        first = http.get("/v1/ledger/accounts", params={"limit": 1}).json()
        rest = http.get(
            "/v1/ledger/accounts", params={"starting_after": first["data"][0]["id"]}
        ).json()
    assert (listed["object"], listed["url"], listed["has_more"]) == (
        "list",
        "/v1/ledger/accounts",
        False,
    )
    accounts = {a["code"]: a for a in listed["data"]}
    prefix = f"merchant:{merchant_id}:"
    assert set(accounts) == {
        prefix + "usd:authorized",
        prefix + "usd:payable",
        prefix + "jpy:authorized",
        prefix + "jpy:payable",
    }
    ids = [a["id"] for a in listed["data"]]
    assert ids == sorted(ids, key=lambda i: int(i.removeprefix("la_")), reverse=True)
    payable = accounts[prefix + "usd:payable"]
    assert payable["object"] == "ledger_account"
    assert (payable["purpose"], payable["currency"]) == ("payable", "usd")
    assert payable["balance"] == {"debits": 2_500, "credits": 13_000, "net": -10_500}
    assert isinstance(payable["created"], int)
    # Every hold was captured or canceled: nothing is left authorized.
    assert accounts[prefix + "usd:authorized"]["balance"]["net"] == 0
    assert {a["code"] for a in jpy["data"]} == {prefix + "jpy:authorized", prefix + "jpy:payable"}
    assert first["has_more"] is True
    assert [a["id"] for a in first["data"] + rest["data"]] == ids


def test_payable_entries_page_newest_first(platform, merchant) -> None:
    _merchant_id, secret, paid, held = merchant
    with api(platform, secret) as http:
        listed = http.get("/v1/ledger/accounts", params={"currency": "usd", "limit": 100}).json()
        (account,) = [a for a in listed["data"] if a["purpose"] == "payable"]
        url = f"/v1/ledger/accounts/{account['id']}/entries"
        page1 = http.get(url, params={"limit": 2}).json()
        page2 = http.get(url, params={"limit": 2, "starting_after": page1["data"][-1]["id"]}).json()
        back = http.get(url, params={"limit": 2, "ending_before": page2["data"][0]["id"]}).json()
    assert page1["url"] == url
    assert [
        (e["journal_kind"], e["direction"], e["amount"], e["payment_intent"])
        for e in page1["data"] + page2["data"]
    ] == [
        ("refund", "debit", 2_500, paid),
        ("capture", "credit", 3_000, held),
        ("capture", "credit", 10_000, paid),
    ]
    assert (page1["has_more"], page2["has_more"], back["has_more"]) == (True, False, False)
    assert back["data"] == page1["data"]
    entry = page1["data"][0]
    assert entry["object"] == "ledger_entry"
    assert entry["id"].startswith("le_")
    assert entry["journal"].startswith("jrn_")
    assert (entry["currency"], entry["entry_type"]) == ("usd", "refund")
    assert isinstance(entry["created"], int)


def test_unknown_and_foreign_accounts_are_missing(platform, merchant) -> None:
    _merchant_id, secret, _paid, _held = merchant
    _other_id, other_secret = platform.new_merchant("balances other")
    _pay(stripe_client(platform, other_secret), 700, "usd")
    with api(platform, other_secret) as http:
        foreign = http.get("/v1/ledger/accounts").json()["data"][0]["id"]
    with api(platform, secret) as http:
        own = http.get("/v1/ledger/accounts").json()["data"][0]["id"]
        for account in (foreign, "la_abc", "la_0" + own[3:], "la_" + "9" * 30, own[3:], "la_-1"):
            response = http.get(f"/v1/ledger/accounts/{account}/entries")
            assert response.status_code == 404, account
            error = response.json()["error"]
            assert (error["code"], error["param"]) == ("resource_missing", "account")
        for cursor in ("starting_after", "ending_before"):
            response = http.get(f"/v1/ledger/accounts/{own}/entries", params={cursor: "le_x"})
            assert response.status_code == 404
            assert response.json()["error"]["param"] == cursor
        response = http.get("/v1/ledger/accounts", params={"starting_after": foreign})
        assert response.status_code == 404
        assert response.json()["error"]["param"] == "starting_after"


def test_payplane_ledger_check_command(platform, merchant) -> None:
    del merchant  # books to audit
    result = subprocess.run(
        [sys.executable, "-m", "payplane.cli", "ledger", "check"],
        env={**os.environ, "PAYPLANE_DATABASE_URL": platform.database_url, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ledger consistent:" in result.stderr
