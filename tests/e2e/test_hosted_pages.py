"""The PSP's hosted pages and the way back, in a real browser (headless Chromium).

Each flow starts from the intent's next_action.redirect_to_url.url, as a merchant's front end
would, and ends on the merchant's return page with Stripe's redirect_status. Screenshots of every
page are kept in test-artifacts/screenshots/.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect
from tests.e2e.browser import screenshot
from tests.e2e.checkout_support import intent_of, journal_kinds, pay, status_becomes
from tests.e2e.support import api


@pytest.fixture
def client(platform: Any) -> httpx.Client:
    return api(platform)


def _redirect_status(page: Page) -> str:
    return parse_qs(urlsplit(page.url).query)["redirect_status"][0]


def _open(page: Page, intent: dict[str, Any]) -> None:
    assert intent["status"] == "requires_action", intent
    page.goto(intent["next_action"]["redirect_to_url"]["url"])


def _lands_on_shop(page: Page, shop_url: str) -> None:
    page.wait_for_url(f"{shop_url}?**")
    expect(page.locator("h1")).to_have_text("Thank you")


@pytest.mark.parametrize(
    ("payment_method", "params", "heading", "after"),
    [
        ("pm_card_authenticationRequired", {}, "Authenticate your payment", "succeeded"),
        ("pm_paypal", {"payment_method_types": "paypal"}, "Pay with Wallet", "succeeded"),
        ("pm_ideal", {"payment_method_types": "ideal"}, "Pay with your bank", "processing"),
    ],
)
def test_approve(
    request: pytest.FixtureRequest,
    page: Page,
    shop_url: str,
    client: httpx.Client,
    payment_method: str,
    params: dict[str, str],
    heading: str,
    after: str,
) -> None:
    intent = pay(client, shop_url, payment_method, **params)
    _open(page, intent)
    expect(page.locator("h1")).to_have_text(heading)
    expect(page.locator("body")).to_contain_text("20.00 EUR")
    screenshot(page, request, "psp-page")
    page.click("#approve")
    _lands_on_shop(page, shop_url)
    screenshot(page, request, "shop-return")
    assert _redirect_status(page) == ("succeeded" if after == "succeeded" else "processing")
    assert intent_of(client, intent["id"])["status"] == after


def test_fail(
    request: pytest.FixtureRequest, page: Page, shop_url: str, client: httpx.Client
) -> None:
    intent = pay(client, shop_url, "pm_card_authenticationRequired")
    _open(page, intent)
    page.click("#fail")
    _lands_on_shop(page, shop_url)
    screenshot(page, request, "shop-return")
    assert _redirect_status(page) == "failed"
    failed = intent_of(client, intent["id"])
    assert failed["last_payment_error"]["code"] == "payment_intent_authentication_failure"


def test_abandon(
    request: pytest.FixtureRequest, page: Page, shop_url: str, client: httpx.Client, platform: Any
) -> None:
    intent = pay(client, shop_url, "pm_card_authenticationRequired")
    _open(page, intent)
    screenshot(page, request, "psp-page")
    status_becomes(client, intent["id"], "requires_payment_method")  # the customer walked away
    page.reload()
    expect(page.locator("#status")).to_have_text("declined")
    expect(page.locator("body")).to_contain_text("This payment request has expired.")
    expect(page.locator("#approve")).to_have_count(0)
    screenshot(page, request, "psp-page-expired")
    page.click("#return")
    _lands_on_shop(page, shop_url)
    assert _redirect_status(page) == "failed"
    assert journal_kinds(platform, intent["id"]) == []


def test_double_click_charges_once(
    request: pytest.FixtureRequest, page: Page, shop_url: str, client: httpx.Client, platform: Any
) -> None:
    intent = pay(client, shop_url, "pm_card_authenticationRequired")
    _open(page, intent)
    page.dblclick("#approve")
    _lands_on_shop(page, shop_url)
    screenshot(page, request, "shop-return")
    assert _redirect_status(page) == "succeeded"
    platform.flush_webhooks()
    assert journal_kinds(platform, intent["id"]) == ["authorization", "capture"]


def test_back_button_after_paying_changes_nothing(
    request: pytest.FixtureRequest, page: Page, shop_url: str, client: httpx.Client, platform: Any
) -> None:
    intent = pay(client, shop_url, "pm_card_authenticationRequired")
    _open(page, intent)
    page.click("#approve")
    _lands_on_shop(page, shop_url)
    page.go_back()
    page.reload()  # whatever the cache kept, ask the PSP's page again
    expect(page.locator("#approve")).to_have_count(0)
    expect(page.locator("#status")).to_be_visible()
    screenshot(page, request, "psp-page-after-back")
    page.click("#return")
    _lands_on_shop(page, shop_url)
    assert _redirect_status(page) == "succeeded"
    platform.flush_webhooks()
    assert journal_kinds(platform, intent["id"]) == ["authorization", "capture"]
