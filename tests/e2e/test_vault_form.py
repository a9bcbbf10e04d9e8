"""The hosted card form in headless Chromium: the page posts straight to the vault process.
Screenshots of every page are kept in test-artifacts/screenshots/."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from playwright.sync_api import Page
from tests.e2e.browser import screenshot


def fill(page: Page, number: str, month: str = "12", year: str = "2034", cvc: str = "123") -> None:
    page.fill("#card-number", number)
    page.fill("#exp-month", month)
    page.fill("#exp-year", year)
    page.fill("#cvc", cvc)
    page.fill("#name", "Ada Lovelace")


def open_form(page: Page, vault: Any, redirect_url: str | None = None) -> None:
    url = f"{vault.public_url}/form?key={vault.publishable_key}"
    if redirect_url is not None:
        url += f"&redirect_url={quote(redirect_url, safe='')}"
    page.goto(url)
    assert page.get_by_label("Card number").is_visible()  # labelled fields, for screen readers


def test_a_valid_card_is_saved(vault: Any, page: Page, request: pytest.FixtureRequest) -> None:
    open_form(page, vault)
    screenshot(page, request, "empty")
    fill(page, "4242 4242 4242 4242")
    page.click("#submit")
    page.wait_for_selector("#payment-method")
    screenshot(page, request, "saved")
    payment_method = page.inner_text("#payment-method")
    assert payment_method.startswith("pm_")
    assert page.inner_text("#card-summary") == "Visa ending in 4242"
    assert "4242 4242" not in page.content()
    with vault.internal("core-api") as core:
        stored = core.get(
            f"/internal/payment_methods/{payment_method}", params={"merchant_id": vault.merchant_id}
        )
    assert stored.json()["card"]["last4"] == "4242"


def test_an_invalid_number_is_explained_and_not_echoed(
    vault: Any, page: Page, request: pytest.FixtureRequest
) -> None:
    open_form(page, vault)
    fill(page, "4242 4242 4242 4241")
    page.click("#submit")
    page.wait_for_selector("#error")
    screenshot(page, request, "invalid-number")
    assert page.inner_text("#error") == "Your card number is incorrect."
    assert page.input_value("#card-number") == ""
    assert page.input_value("#cvc") == ""
    assert page.get_attribute("#card-number", "aria-invalid") == "true"
    assert "4241" not in page.content()
    assert page.input_value("#name") == "Ada Lovelace"  # what is not card data stays filled


def test_an_expired_card_is_refused(vault: Any, page: Page, request: pytest.FixtureRequest) -> None:
    open_form(page, vault)
    fill(page, "5555555555554444", month="01", year="2020")
    page.click("#submit")
    page.wait_for_selector("#error")
    screenshot(page, request, "expired")
    assert page.inner_text("#error") == "Your card's expiration date (01/2020) is in the past."
    assert page.get_attribute("#exp-year", "aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "exp-year"


def test_with_a_redirect_url_the_browser_goes_back_with_the_token(
    vault: Any, page: Page, request: pytest.FixtureRequest, shop_url: str
) -> None:
    open_form(page, vault, f"{shop_url}?order=7")
    fill(page, "378282246310005", cvc="1234")
    page.click("#submit")
    page.wait_for_url(f"{shop_url}?**")
    screenshot(page, request, "shop-return")
    query = parse_qs(urlsplit(page.url).query)
    assert query["order"] == ["7"]
    payment_method = query["payment_method"][0]
    with vault.internal("core-api") as core:
        stored = core.get(
            f"/internal/payment_methods/{payment_method}", params={"merchant_id": vault.merchant_id}
        )
    assert (stored.json()["card"]["brand"], stored.json()["card"]["last4"]) == ("amex", "0005")
