"""3-D Secure challenges, the hosted pages, and how payments waiting for a customer end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from action_support import (
    EXPIRED,
    RETURN_URL,
    complete,
    create,
    created,
    decline,
    fetch,
    page_path,
    set_timing,
)
from simulator_support import API_KEY, authorize, post, stats
from webhook_support import simulator_client

from psp_simulator import Settings, create_app

pytestmark = pytest.mark.anyio

FAILED_3DS = decline(
    "authentication_failed", "authentication_failed", "The customer failed authentication."
)
FUNDS = decline("card_declined", "insufficient_funds", "Your card has insufficient funds.")
THREE_DS_CARDS = [
    ("pm_card_authenticationRequired", "4000002760003184", None),
    ("pm_card_threeDSecure2Required", "4000000000003220", None),
    ("pm_card_authenticationRequiredChargeDeclinedInsufficientFunds", "4000008400001629", FUNDS),
]


def card(number: str) -> dict[str, object]:
    return {"number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123"}


@pytest.mark.parametrize(("token", "number", "after_approval"), THREE_DS_CARDS)
@pytest.mark.parametrize("by_number", [False, True])
async def test_a_3ds_card_waits_for_its_customer_then_answers(
    client: httpx.AsyncClient,
    token: str,
    number: str,
    after_approval: dict[str, str] | None,
    by_number: bool,
) -> None:
    before = time.time()
    if by_number:
        body = {"amount": 1234, "currency": "usd", "merchant_reference": "o", "card": card(number)}
        response = await post(client, "/v1/authorizations", {**body, "return_url": RETURN_URL})
        waiting = response.json()
        assert waiting["payment_method"] == f"card_visa_{number[-4:]}"
    else:
        waiting = await created(client, "card", payment_method=token, return_url=RETURN_URL)
    assert waiting["status"] == "requires_action"
    assert (waiting["product"], waiting["decline"], waiting["captured_amount"]) == ("card", None, 0)
    assert waiting["next_action"] == {
        "type": "redirect",
        "url": f"http://127.0.0.1:8100/pages/3ds/{waiting['id']}",
    }
    assert before + 3600 <= waiting["expires_at"] <= time.time() + 3601
    assert await fetch(client, waiting["id"]) == waiting

    response = await complete(client, waiting, "approve")
    assert response.status_code == 303
    assert response.headers["location"] == f"{RETURN_URL}?authorization={waiting['id']}"
    done = await fetch(client, waiting["id"])
    assert (done["next_action"], done["expires_at"]) == (None, None)
    if after_approval is None:
        assert (done["status"], done["decline"]) == ("authorized", None)
    else:
        assert (done["status"], done["decline"]) == ("declined", after_approval)


async def test_approval_captures_when_asked_to(client: httpx.AsyncClient) -> None:
    waiting = await created(client, "card", capture=True)
    await complete(client, waiting, "approve")
    done = await fetch(client, waiting["id"])
    assert (done["status"], done["captured_amount"]) == ("captured", 1234)


async def test_failed_authentication_declines(client: httpx.AsyncClient) -> None:
    waiting = await created(client, "card")
    assert (await complete(client, waiting, "fail")).status_code == 303
    done = await fetch(client, waiting["id"])
    assert (done["status"], done["decline"]) == ("declined", FAILED_3DS)


async def test_a_second_submit_changes_nothing(client: httpx.AsyncClient) -> None:
    waiting = await created(client, "card", return_url=RETURN_URL)
    await complete(client, waiting, "approve")
    done = await fetch(client, waiting["id"])
    for action in ("fail", "approve"):
        again = await complete(client, waiting, action)
        assert again.status_code == 303
        assert again.headers["location"] == f"{RETURN_URL}?authorization={waiting['id']}"
    assert await fetch(client, waiting["id"]) == done
    assert (await client.get("/admin/webhooks/stats")).json()["pending"] == 2


async def test_a_voided_payment_cannot_be_completed(client: httpx.AsyncClient) -> None:
    waiting = await created(client, "card")
    capture = await post(client, f"/v1/authorizations/{waiting['id']}/capture", {})
    assert (capture.status_code, capture.json()["error"]["code"]) == (409, "invalid_state")
    voided = await post(client, f"/v1/authorizations/{waiting['id']}/void", {})
    assert voided.status_code == 200
    assert (voided.json()["status"], voided.json()["next_action"]) == ("voided", None)

    response = await complete(client, waiting, "approve")
    # Without a return_url the customer lands back on the page, which shows the result.
    assert response.headers["location"] == waiting["next_action"]["url"]
    assert (await fetch(client, waiting["id"]))["status"] == "voided"
    page = (await client.get(page_path(waiting))).text
    assert '<strong id="status">voided</strong>' in page
    assert "canceled" in page
    assert "<button" not in page


async def test_expire_declines_only_a_payment_still_waiting(client: httpx.AsyncClient) -> None:
    waiting = await created(client, "card")
    expired = await post(client, f"/v1/authorizations/{waiting['id']}/expire", {}, "expire-1")
    assert expired.status_code == 200
    assert (expired.json()["status"], expired.json()["decline"]) == ("declined", EXPIRED)
    replay = await post(client, f"/v1/authorizations/{waiting['id']}/expire", {}, "expire-1")
    assert replay.content == expired.content

    # Anything else answers as it stands, so the caller can apply the real state.
    approved = (await authorize(client)).json()
    unchanged = await post(client, f"/v1/authorizations/{approved['id']}/expire", {})
    assert (unchanged.status_code, unchanged.json()) == (200, approved)
    missing = await post(client, "/v1/authorizations/psp_missing/expire", {})
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    bad = await post(client, f"/v1/authorizations/{approved['id']}/expire", {"now": 1})
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "parameter_unknown")
    # The page of an expired payment is honest about it and refuses the late answer.
    late = await complete(client, waiting, "approve")
    assert late.status_code == 303
    page = (await client.get(page_path(waiting))).text
    assert '<strong id="status">declined</strong>' in page
    assert "This payment request has expired." in page
    assert (await fetch(client, waiting["id"]))["decline"] == EXPIRED


async def test_the_simulator_expires_unanswered_payments_itself(
    client: httpx.AsyncClient,
) -> None:
    await set_timing(client, action_timeout_seconds=0.05)
    waiting = await created(client, "card", return_url=RETURN_URL)
    await set_timing(client)
    await asyncio.sleep(0.1)
    page = await client.get(page_path(waiting))
    assert "This payment request has expired." in page.text
    assert 'id="return"' in page.text
    assert "<button" not in page.text
    late = await complete(client, waiting, "approve")
    assert late.headers["location"] == f"{RETURN_URL}?authorization={waiting['id']}"
    done = await fetch(client, waiting["id"])
    assert (done["status"], done["decline"]) == ("declined", EXPIRED)
    assert (await stats(client))["authorizations"]["declined"] == 1


async def test_the_page_shows_what_is_paid_for(client: httpx.AsyncClient) -> None:
    waiting = await created(client, "card", merchant_reference="<b>order & co</b>")
    client.headers.pop("Authorization")  # the unguessable id is the capability
    response = await client.get(page_path(waiting))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert '<html lang="en">' in page
    assert "<h1>Authenticate your payment</h1>" in page
    assert "&lt;b&gt;order &amp; co&lt;/b&gt;" in page
    assert "<b>order" not in page
    assert "12.34 USD" in page
    assert f'action="{waiting["id"]}/complete"' in page
    assert (
        '<button type="submit" id="approve" name="action" value="approve">'
        "Complete authentication</button>"
    ) in page
    assert '<button type="submit" id="fail" name="action" value="fail">' in page
    assert "<script" not in page
    assert "http" not in page.replace(waiting["next_action"]["url"], "")


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (5, "jpy", "5 JPY"),
        (1234, "kwd", "1.234 KWD"),
        (7, "bhd", "0.007 BHD"),
        (1, "eur", "0.01 EUR"),
    ],
)
async def test_amounts_use_the_currency_exponent(
    client: httpx.AsyncClient, amount: int, currency: str, shown: str
) -> None:
    waiting = await created(client, "card", amount=amount, currency=currency)
    assert shown in (await client.get(page_path(waiting))).text


async def test_unknown_pages_are_not_found(client: httpx.AsyncClient) -> None:
    waiting = await created(client, "card")
    plain = (await authorize(client)).json()
    for path in (
        f"/pages/wallet/{waiting['id']}",
        f"/pages/bank/{waiting['id']}",
        f"/pages/nope/{waiting['id']}",
        "/pages/3ds/psp_missing",
        f"/pages/3ds/{plain['id']}",
    ):
        shown = await client.get(path)
        assert shown.status_code == 404, path
        assert "<h1>Payment not found</h1>" in shown.text
        answered = await client.post(f"{path}/complete", data={"action": "approve"})
        assert answered.status_code == 404, path
    assert (await fetch(client, waiting["id"]))["status"] == "requires_action"


@pytest.mark.parametrize("form", [{}, {"action": "maybe"}])
async def test_an_unknown_action_changes_nothing(
    client: httpx.AsyncClient, form: dict[str, str]
) -> None:
    waiting = await created(client, "card")
    response = await client.post(f"{page_path(waiting)}/complete", data=form)
    assert response.status_code == 400
    assert (await fetch(client, waiting["id"]))["status"] == "requires_action"


@pytest.mark.parametrize(
    ("return_url", "location"),
    [
        ("https://shop.test/back?order=7&x=a%20b", "https://shop.test/back?order=7&x=a%20b&"),
        ("http://localhost:3000/r#done", "http://localhost:3000/r?"),
    ],
)
async def test_the_return_url_keeps_its_query_and_fragment(
    client: httpx.AsyncClient, return_url: str, location: str
) -> None:
    waiting = await created(client, "card", return_url=return_url)
    response = await complete(client, waiting, "fail")
    expected = f"{location}authorization={waiting['id']}"
    if "#" in return_url:
        expected += "#done"
    assert response.headers["location"] == expected
    page = (await client.get(page_path(waiting))).text
    assert f'<a id="return" href="{expected.replace("&", "&amp;")}">' in page


@pytest.mark.parametrize(
    "return_url",
    [
        "shop.test/return",
        "ftp://shop.test/return",
        "https:///no-host",
        "https://shop.test/caf\u00e9",
        "https://shop.test/a b",
        "https://shop.test/" + "x" * 2031,  # 2049 characters
        "",
        7,
    ],
)
async def test_a_bad_return_url_is_refused_and_stores_nothing(
    client: httpx.AsyncClient, return_url: object
) -> None:
    response = await create(client, "card", return_url=return_url)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("parameter_invalid", "return_url")
    assert (await stats(client))["operations"] == 0


@pytest.fixture
async def public_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        api_key=API_KEY, db_path=tmp_path / "psp.sqlite3", public_url="https://psp.example/sim/"
    )
    async with simulator_client(create_app(settings)) as client:
        yield client


async def test_page_urls_start_with_the_public_url(public_client: httpx.AsyncClient) -> None:
    waiting = await created(public_client, "card")
    assert waiting["next_action"]["url"] == f"https://psp.example/sim/pages/3ds/{waiting['id']}"
    response = await public_client.post(
        f"/pages/3ds/{waiting['id']}/complete", data={"action": "approve"}
    )
    assert response.headers["location"] == waiting["next_action"]["url"]
    assert (await fetch(public_client, waiting["id"]))["status"] == "authorized"
