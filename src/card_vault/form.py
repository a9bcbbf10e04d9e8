"""The hosted card form: a small page that posts card data straight to the vault.

No external resources, and it works as a plain HTML form POST; the only script disables the
button once the form is sent. Errors re-render the form with the message in #error and the
field marked invalid; the card number and CVC are never written back into the page.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import date
from html import escape
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from card_vault import cards
from card_vault.cards import brand_name
from card_vault.errors import VaultError
from card_vault.requests import FORM, decode
from card_vault.vault import Vault

MAX_REDIRECT_URL = 2048
_FIELD_BY_PARAM = {
    "card[number]": "card-number",
    "card[exp_month]": "exp-month",
    "card[exp_year]": "exp-year",
    "card[cvc]": "cvc",
    "billing_details[name]": "name",
}
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; background: #f6f8fa; color: #1f2328; }
main { max-width: 26rem; margin: 2rem auto; padding: 1.5rem; background: #fff;
       border: 1px solid #d0d7de; border-radius: 8px; }
h1 { font-size: 1.25rem; margin-top: 0; }
label, legend { display: block; font-weight: 600; margin: 0.75rem 0 0.25rem; }
input { font-size: 1rem; padding: 0.5rem; border: 1px solid #8c959f; border-radius: 4px;
        width: 100%; box-sizing: border-box; }
input[aria-invalid="true"] { border-color: #cf222e; outline: 2px solid #cf222e; }
fieldset { border: 0; padding: 0; margin: 0.75rem 0 0; }
legend { padding: 0; margin-top: 0; }
.row { display: flex; gap: 0.75rem; }
.row > div { flex: 1; }
.row label { font-weight: 400; margin-top: 0; }
#error { color: #cf222e; background: #ffebe9; border: 1px solid #cf222e; border-radius: 4px;
         padding: 0.5rem; }
button { margin-top: 1.25rem; width: 100%; font-size: 1rem; padding: 0.75rem; border: 0;
         border-radius: 4px; background: #0969da; color: #fff; cursor: pointer; }
button:disabled { background: #8c959f; }
code { font-size: 1rem; }
"""
_SCRIPT = """
document.getElementById("card-form").addEventListener("submit", function () {
  var button = document.getElementById("submit");
  button.disabled = true;
  button.textContent = "Saving\\u2026";
});
"""


class FormProblem(Exception):
    """The page cannot be shown at all (unknown key, bad redirect_url)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def build_router(
    vault: Vault, *, clock: Callable[[], float], today: Callable[[], date]
) -> APIRouter:
    router = APIRouter()

    async def merchant(key: str | None) -> str:
        if not key:
            raise FormProblem(400, "This payment form has no publishable key (?key=pk_...).")
        try:
            return await vault.merchant_for(key)
        except VaultError:
            raise FormProblem(401, "This payment form's publishable key is not valid.") from None

    @router.get("/form")
    async def show_form(request: Request) -> Response:
        key = request.query_params.get("key")
        redirect_url = request.query_params.get("redirect_url") or None
        try:
            check_redirect_url(redirect_url)
            await merchant(key)
        except FormProblem as problem:
            return _problem_page(problem)
        assert key is not None
        return _form_page(key=key, redirect_url=redirect_url, values={}, error=None)

    @router.post("/form")
    async def submit_form(request: Request) -> Response:
        try:
            fields = await decode(request, (FORM,))
        except VaultError as error:
            return _problem_page(FormProblem(error.status, error.message))
        values = {name: value for name, value in fields.items() if isinstance(value, str)}
        key, redirect_url = values.get("key"), values.get("redirect_url") or None
        try:
            check_redirect_url(redirect_url)
            merchant_id = await merchant(key)
        except FormProblem as problem:
            return _problem_page(problem)
        assert key is not None
        try:
            card = cards.validate(
                number=values.get("card_number"),
                exp_month=values.get("exp_month"),
                exp_year=values.get("exp_year"),
                cvc=values.get("cvc"),
                holder_name=values.get("name"),
                today=today(),
            )
        except VaultError as error:
            return _form_page(key=key, redirect_url=redirect_url, values=values, error=error)
        payment_method = await vault.tokenize(merchant_id, card, int(clock()))
        if redirect_url is not None:
            return RedirectResponse(
                with_payment_method(redirect_url, payment_method["id"]), status_code=303
            )
        return _result_page(payment_method)

    return router


def check_redirect_url(url: str | None) -> None:
    if url is None:
        return
    parts = urlsplit(url)
    if len(url) > MAX_REDIRECT_URL or parts.scheme not in ("http", "https") or not parts.netloc:
        raise FormProblem(
            400,
            f"This payment form's redirect_url is not valid: it must be an http:// or https:// "
            f"URL of at most {MAX_REDIRECT_URL} characters.",
        )


def with_payment_method(url: str, payment_method: str) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("payment_method", payment_method)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _security_headers(nonce: str, redirect_url: str | None = None) -> dict[str, str]:
    # Chromium applies form-action to the redirect after a POST too, so the merchant's origin
    # the 303 goes to must be allowed along with our own.
    targets = "'self'"
    if redirect_url is not None:
        parts = urlsplit(redirect_url)
        targets += f" {parts.scheme}://{parts.netloc}"
    policy = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
        f"form-action {targets}; base-uri 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


def _page(title: str, body: str, nonce: str, script: str = "") -> str:
    script_tag = f'<script nonce="{nonce}">{script}</script>' if script else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style nonce="{nonce}">{_STYLE}</style>
</head>
<body>
<main>
{body}
</main>
{script_tag}
</body>
</html>
"""


def _input(
    field: str, name: str, label: str, value: str, invalid_field: str | None, **attrs: str
) -> str:
    extra = " ".join(f'{attr.replace("_", "-")}="{escape(v)}"' for attr, v in attrs.items())
    state = ""
    if field == invalid_field:
        state = ' aria-invalid="true" aria-describedby="error" autofocus'
    return (
        f'<label for="{field}">{label}</label>'
        f'<input id="{field}" name="{name}" value="{escape(value)}" {extra}{state}>'
    )


def _form_page(
    *, key: str, redirect_url: str | None, values: dict[str, str], error: VaultError | None
) -> Response:
    nonce = secrets.token_urlsafe(16)
    invalid_field = _FIELD_BY_PARAM.get(error.param or "") if error is not None else None
    hidden = f'<input type="hidden" name="key" value="{escape(key)}">'
    if redirect_url is not None:
        hidden += f'<input type="hidden" name="redirect_url" value="{escape(redirect_url)}">'
    message = escape(error.message) if error is not None else ""
    error_box = f'<p id="error" role="alert"{"" if error else " hidden"}>{message}</p>'
    numeric = {"inputmode": "numeric", "required": "required"}
    fields = [
        _input("card-number", "card_number", "Card number", "", invalid_field,
               autocomplete="cc-number", maxlength="23", **numeric),
        '<fieldset>\n<legend>Expiry date</legend>\n<div class="row">\n<div>',
        _input("exp-month", "exp_month", "Month (MM)", values.get("exp_month", ""),
               invalid_field, autocomplete="cc-exp-month", maxlength="2", **numeric),
        "</div>\n<div>",
        _input("exp-year", "exp_year", "Year (YYYY)", values.get("exp_year", ""),
               invalid_field, autocomplete="cc-exp-year", maxlength="4", **numeric),
        "</div>\n</div>\n</fieldset>",
        _input("cvc", "cvc", "Security code (CVC)", "", invalid_field,
               autocomplete="cc-csc", maxlength="4", **numeric),
        _input("name", "name", "Name on card", values.get("name", ""), invalid_field,
               autocomplete="cc-name", maxlength=str(cards.MAX_NAME_LENGTH)),
    ]  # fmt: skip
    inputs = "\n".join(fields)
    body = f"""<h1>Card details</h1>
{error_box}
<form id="card-form" method="post" action="/form" novalidate>
{hidden}
{inputs}
<button id="submit" type="submit">Save card</button>
</form>"""
    status = 200 if error is None else 400
    return HTMLResponse(
        _page("Pay by card", body, nonce, _SCRIPT),
        status_code=status,
        headers=_security_headers(nonce, redirect_url),
    )


def _result_page(payment_method: dict[str, Any]) -> Response:
    nonce = secrets.token_urlsafe(16)
    card = payment_method["card"]
    body = f"""<h1>Card saved</h1>
<p>Payment method <code id="payment-method">{escape(payment_method["id"])}</code></p>
<p id="card-summary">{escape(brand_name(card["brand"]))} ending in
<span id="last4">{escape(card["last4"])}</span></p>"""
    return HTMLResponse(_page("Card saved", body, nonce), headers=_security_headers(nonce))


def _problem_page(problem: FormProblem) -> Response:
    nonce = secrets.token_urlsafe(16)
    message = escape(problem.message)
    body = f'<h1>Payment form unavailable</h1>\n<p id="error" role="alert">{message}</p>'
    return HTMLResponse(
        _page("Payment form unavailable", body, nonce),
        status_code=problem.status,
        headers=_security_headers(nonce),
    )
