"""Saved cards end to end, over the real processes and real TLS: a card tokenized at the vault
with the merchant's publishable key is seen by the core without its number, is charged through
the vault (approved, declined, challenged, charged again without its CVC), stays missing to
other merchants, is attached and detached; the hosted card form in Chromium, then a payment in
the core. Afterwards the core's database holds none of the card numbers used.

Runs before test_zz_pan_canary.py, whose search of the database, logs and NATS covers these
flows too.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from playwright.sync_api import Page
from tests.e2e.browser import screenshot
from tests.e2e.checkout_support import intent_of, status_becomes
from tests.e2e.support import api, query, stripe_client, wait_for

from payplane.runtime.launcher import settings_env

VISA = "4242424242424242"
DECLINED = "4000000000000002"
CHALLENGE = "4000002760003184"
MASTERCARD = "5555555555554444"
NUMBERS = (VISA, DECLINED, CHALLENGE, MASTERCARD)
RETURN_URL = "https://shop.example/checkout/done"


@pytest.fixture
def client(platform: Any) -> httpx.Client:
    return api(platform)


def tokenize(vault: Any, number: str, key: str | None = None) -> dict[str, Any]:
    """POST the card to the vault's public port as a shop page would, with a publishable key."""
    response = httpx.post(
        f"{vault.public_url}/v1/payment_methods",
        data={
            "type": "card",
            "card[number]": number,
            "card[exp_month]": "12",
            "card[exp_year]": "2034",
            "card[cvc]": "123",
            "billing_details[name]": "Ada Lovelace",
        },
        headers={"Authorization": f"Bearer {key or vault.publishable_key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def pay(client: httpx.Client, payment_method: str, **params: Any) -> httpx.Response:
    """Create and confirm in one call, as a merchant's server does."""
    return client.post(
        "/v1/payment_intents",
        data={
            "amount": 2500,
            "currency": "usd",
            "payment_method": payment_method,
            "confirm": "true",
            **params,
        },
        # Letters mostly: a random key of digits and dashes may look like a card number.
        headers={"Idempotency-Key": "saved-cards-" + secrets.token_urlsafe(16)},
    )


def test_the_core_sees_a_saved_card_without_its_number(vault: Any, client: httpx.Client) -> None:
    saved = tokenize(vault, VISA)
    response = client.get(f"/v1/payment_methods/{saved['id']}")
    assert response.status_code == 200, response.text
    method = response.json()
    assert (method["object"], method["type"], method["customer"]) == (
        "payment_method", "card", None
    )  # fmt: skip
    card = method["card"]
    assert (card["brand"], card["last4"], card["exp_month"], card["exp_year"]) == (
        "visa", "4242", 12, 2034
    )  # fmt: skip
    assert card["fingerprint"] == saved["card"]["fingerprint"]
    assert method["billing_details"]["name"] == "Ada Lovelace"
    assert "number" not in card
    assert VISA not in response.text
    # The same card saved again is another payment method with the same fingerprint.
    again = client.get(f"/v1/payment_methods/{tokenize(vault, VISA)['id']}").json()
    assert (again["id"] != method["id"], again["card"]["fingerprint"]) == (
        True, card["fingerprint"]
    )  # fmt: skip


def test_a_saved_card_pays_and_pays_again_without_its_cvc(
    platform: Any, vault: Any, client: httpx.Client
) -> None:
    saved = tokenize(vault, VISA)
    first = pay(client, saved["id"])
    assert first.status_code == 200, first.text
    assert (first.json()["status"], first.json()["payment_method"]) == ("succeeded", saved["id"])
    # The vault forgot the CVC with the first authorization: the second one goes without.
    second = pay(client, saved["id"], capture_method="manual")
    assert second.status_code == 200, second.text
    assert second.json()["status"] == "requires_capture"
    captured = client.post(f"/v1/payment_intents/{second.json()['id']}/capture")
    assert captured.json()["status"] == "succeeded"
    attempts = query(
        platform,
        "SELECT payment_method, status FROM payment_attempts "
        "WHERE payment_intent_id = ANY(%s) AND kind = 'authorize'",
        [first.json()["id"], second.json()["id"]],
    )
    assert [(a["payment_method"], a["status"]) for a in attempts] == [
        (saved["id"], "succeeded")
    ] * 2


def test_a_declining_card_is_declined_through_the_vault(vault: Any, client: httpx.Client) -> None:
    saved = tokenize(vault, DECLINED)
    declined = pay(client, saved["id"])
    assert declined.status_code == 402, declined.text
    error = declined.json()["error"]
    assert (error["type"], error["code"], error["decline_code"]) == (
        "card_error", "card_declined", "generic_decline"
    )  # fmt: skip
    intent = intent_of(client, error["payment_intent"]["id"])
    assert intent["status"] == "requires_payment_method"
    assert intent["last_payment_error"]["payment_method"]["id"] == saved["id"]


def test_a_challenge_card_needs_the_customer_then_succeeds(
    vault: Any, client: httpx.Client
) -> None:
    saved = tokenize(vault, CHALLENGE)
    challenged = pay(client, saved["id"], return_url=RETURN_URL)
    assert challenged.status_code == 200, challenged.text
    intent = challenged.json()
    assert intent["status"] == "requires_action"
    assert intent["next_action"]["type"] == "redirect_to_url"
    page = intent["next_action"]["redirect_to_url"]["url"]
    approved = httpx.post(page + "/complete", data={"action": "approve"}, timeout=10)
    assert approved.status_code == 303, approved.text
    assert status_becomes(client, intent["id"], "succeeded")["amount_received"] == 2500


def test_a_psp_answer_lost_behind_the_vault_is_settled_by_the_resolver(
    platform: Any, vault: Any, client: httpx.Client
) -> None:
    """The PSP applies the authorization and withholds its answer past the vault's 2 s read
    timeout: the vault answers 504 psp_timeout, the core leaves the payment processing, and the
    worker's resolver looks the operation up at the PSP by its key and applies the answer."""
    saved = tokenize(vault, VISA)
    platform.set_faults(drop_response_rate=1.0, hang_seconds=4)
    platform.set_webhook_faults(drop_rate=1.0)  # else the webhook would settle it first
    try:
        lost = pay(client, saved["id"], capture_method="manual")
    finally:
        platform.reset_faults()
    assert lost.status_code == 502, lost.text
    assert lost.json()["error"]["code"] == "psp_outcome_unknown"
    (attempt,) = query(
        platform,
        "SELECT payment_intent_id, status FROM payment_attempts WHERE payment_method = %s",
        saved["id"],
    )
    assert attempt["status"] == "unknown"
    intent_id = attempt["payment_intent_id"]
    settled = wait_for(
        lambda: (i := intent_of(client, intent_id))["status"] != "processing" and i,
        timeout=30,
        what="the resolver",
    )
    assert settled["status"] == "requires_capture"


def test_a_psp_that_refuses_through_the_vault_charges_nothing(
    platform: Any, vault: Any, client: httpx.Client
) -> None:
    saved = tokenize(vault, VISA)
    before = platform.simulator_stats()["authorizations"]["total"]
    platform.set_faults(error_rate=1.0)  # the PSP answers 503 before doing anything
    try:
        refused = pay(client, saved["id"])
    finally:
        platform.reset_faults()
    assert refused.status_code == 502, refused.text
    assert refused.json()["error"]["code"] == "psp_unavailable"
    assert platform.simulator_stats()["authorizations"]["total"] == before
    (attempt,) = query(
        platform,
        "SELECT payment_intent_id, status FROM payment_attempts WHERE payment_method = %s",
        saved["id"],
    )
    assert attempt["status"] == "failed"
    again = client.post(f"/v1/payment_intents/{attempt['payment_intent_id']}/confirm")
    assert again.json()["status"] == "succeeded"  # nothing was sent: trying again is safe


def test_another_merchants_card_is_missing_everywhere(
    platform: Any, vault: Any, client: httpx.Client
) -> None:
    other = platform.new_merchant_keys("Saved cards, other merchant")
    theirs = tokenize(vault, VISA, key=other["publishable_key"])  # its key was registered
    mine = tokenize(vault, VISA)
    with api(platform, other["secret_key"]) as stranger:
        for missing in (
            stranger.get(f"/v1/payment_methods/{mine['id']}"),
            pay(stranger, mine["id"]),
            stranger.post(
                f"/v1/payment_methods/{mine['id']}/attach", data={"customer": "cus_thief"}
            ),
        ):
            assert missing.status_code == 404, missing.text
            error = missing.json()["error"]
            assert (error["code"], error["param"]) == ("resource_missing", "payment_method")
        opened = stranger.post("/v1/payment_intents", data={"amount": 900, "currency": "usd"})
        refused = stranger.post(
            f"/v1/payment_intents/{opened.json()['id']}/confirm",
            data={"payment_method": mine["id"]},
        )
        assert refused.status_code == 404, refused.text
        assert intent_of(stranger, opened.json()["id"])["status"] == "requires_payment_method"
        assert stranger.get(f"/v1/payment_methods/{theirs['id']}").status_code == 200
    assert client.get(f"/v1/payment_methods/{theirs['id']}").status_code == 404
    never_charged = query(
        platform, "SELECT 1 FROM payment_attempts WHERE merchant_id = %s", other["id"]
    )
    assert never_charged == []


def test_attach_list_and_detach(platform: Any, vault: Any, client: httpx.Client) -> None:
    saved = tokenize(vault, MASTERCARD)
    customer = "cus_" + secrets.token_urlsafe(9)
    sdk = stripe_client(platform).v1.payment_methods
    # The SDK's own idempotency keys are random UUIDs, which can look like card numbers.
    key = {"idempotency_key": "attach-" + secrets.token_urlsafe(12)}
    attached = sdk.attach(saved["id"], params={"customer": customer}, options=key)
    assert (attached.id, attached.customer, attached.card.last4) == (saved["id"], customer, "4444")
    listed = sdk.list(params={"customer": customer, "type": "card"})
    assert [m.id for m in listed.data] == [saved["id"]]
    assert sdk.retrieve(saved["id"]).card.fingerprint == saved["card"]["fingerprint"]
    detached = client.post(f"/v1/payment_methods/{saved['id']}/detach")
    assert detached.json()["customer"] is None
    assert client.get("/v1/payment_methods", params={"customer": customer}).json()["data"] == []
    again = client.post(f"/v1/payment_methods/{saved['id']}/detach")
    assert again.json()["error"]["code"] == "payment_method_unexpected_state"


def test_rotating_the_vaults_key_keeps_saved_cards_usable(
    platform: Any, vault: Any, client: httpx.Client
) -> None:
    saved = tokenize(vault, VISA)
    env = {**os.environ, **settings_env(platform.settings, platform.database_url)}
    done = subprocess.run(
        [sys.executable, "-m", "payplane.cli", "vault", "rotate-key"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    status = json.loads(done.stdout)
    assert "is current" in done.stderr
    assert status["versions"][str(status["current"])] >= 1  # the card above, re-wrapped
    assert sum(status["versions"].values()) == status["versions"][str(status["current"])]
    assert status["rewrapped"] >= 1
    assert pay(client, saved["id"]).json()["status"] == "succeeded"


def test_card_details_sent_to_the_core_are_refused(vault: Any, client: httpx.Client) -> None:
    refused = client.post(
        "/v1/payment_methods",
        data={"type": "card", "card[number]": VISA, "card[exp_month]": "12", "card[cvc]": "123"},
    )
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (error["code"], error["param"]) == ("card_details_not_accepted", "card")
    assert f"{vault.public_url}/v1/payment_methods" in error["message"]
    assert VISA not in refused.text


def test_the_hosted_form_then_a_payment_in_the_core(
    vault: Any, client: httpx.Client, page: Page, request: pytest.FixtureRequest, shop_url: str
) -> None:
    back = quote(f"{shop_url}?order=9", safe="")
    page.goto(f"{vault.public_url}/form?key={vault.publishable_key}&redirect_url={back}")
    page.fill("#card-number", "5555 5555 5555 4444")
    page.fill("#exp-month", "11")
    page.fill("#exp-year", "2033")
    page.fill("#cvc", "321")
    page.fill("#name", "Grace Hopper")
    screenshot(page, request, "filled")
    page.click("#submit")
    page.wait_for_url(f"{shop_url}?**")
    screenshot(page, request, "back-at-the-shop")
    (payment_method,) = parse_qs(urlsplit(page.url).query)["payment_method"]
    paid = pay(client, payment_method)
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "succeeded"
    card = client.get(f"/v1/payment_methods/{payment_method}").json()["card"]
    assert (card["brand"], card["last4"], card["exp_month"]) == ("mastercard", "4444", 11)


def test_the_core_database_holds_no_card_number(
    platform: Any, vault: Any, client: httpx.Client
) -> None:
    """After everything above (and one more payment, so that there is something to find):
    every row of the tables these flows write, searched as text, holds no card number."""
    paid = pay(client, tokenize(vault, VISA)["id"]).json()
    assert paid["status"] == "succeeded"
    numbers = [f"%{number}%" for number in NUMBERS]
    tables = ("payment_methods", "payment_attempts", "events", "audit_log", "idempotency_keys")
    for table in tables:
        (found,) = query(
            platform,
            f"SELECT count(*) FILTER (WHERE t::text LIKE ANY(%s)) AS leaks, "  # noqa: S608
            f"count(*) FILTER (WHERE t::text LIKE %s) AS searched FROM {table} t",
            numbers,
            f"%{paid['id']}%",
        )
        assert found["leaks"] == 0, table
        if table != "payment_methods":
            assert found["searched"] > 0, table  # the search reads these flows' rows
