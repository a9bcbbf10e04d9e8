"""Hosted pages where the customer answers: 3-D Secure, the wallet's login, the bank's approval.

Server-rendered HTML without JavaScript or external resources. No auth: the unguessable
authorization id in the URL is the capability.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from psp_simulator import authorizations
from psp_simulator.currencies import to_decimal
from psp_simulator.models import Authorization
from psp_simulator.payment_methods import PRODUCT_OF_PAGE, PageKind
from psp_simulator.store import Store

_KINDS: dict[str, PageKind] = {kind: kind for kind in PRODUCT_OF_PAGE}
_HEADINGS: dict[PageKind, str] = {
    "3ds": "Authenticate your payment",
    "wallet": "Pay with Wallet",
    "bank": "Pay with your bank",
}
_PROMPTS: dict[PageKind, str] = {
    "3ds": "Your card issuer asks you to confirm that you are making this payment.",
    "wallet": "Approve this payment from your wallet balance.",
    "bank": "Approve this payment in your bank's online banking.",
}
# The labels of the approve and fail buttons.
_BUTTONS: dict[PageKind, tuple[str, str]] = {
    "3ds": ("Complete authentication", "Fail authentication"),
    "wallet": ("Pay now", "Cancel and return"),
    "bank": ("Authorize payment", "Fail payment"),
}
_OUTCOMES = {
    "pending": "Your bank is processing the payment.",
    "authorized": "The payment was approved.",
    "captured": "The payment was approved.",
    "voided": "The merchant canceled this payment.",
}
_STYLE = (
    "body{margin:0;background:#f3f4f6;color:#111827;font:16px/1.5 system-ui,sans-serif}"
    "main{max-width:30rem;margin:3rem auto;padding:1.5rem 2rem;background:#fff;"
    "border-radius:.5rem;box-shadow:0 1px 3px #0003}"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}"
    "dt{color:#4b5563}dd{margin:0;font-weight:600}"
    "button{font:inherit;padding:.5rem 1rem;margin:.5rem .5rem 0 0;border-radius:.375rem;"
    "border:1px solid #6b7280;background:#fff;cursor:pointer}"
    "#approve{background:#1d4ed8;border-color:#1d4ed8;color:#fff}"
    "button:focus-visible,a:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}"
    "a{color:#1d4ed8}"
)
# Pages show live state: the back button must fetch them again, not replay a stale copy.
_NO_STORE = {"Cache-Control": "no-store"}


def build_router(store: Store) -> APIRouter:
    router = APIRouter(prefix="/pages")

    @router.get("/{kind}/{authorization_id}")
    async def show(kind: str, authorization_id: str) -> Response:
        page = _KINDS.get(kind)
        if page is None:
            return _not_found()
        authorization = store.transact(
            lambda tx: authorizations.on_page(tx, page, authorization_id)
        )
        if authorization is None:
            return _not_found()
        return HTMLResponse(_render(page, authorization), headers=_NO_STORE)

    @router.post("/{kind}/{authorization_id}/complete")
    async def complete(request: Request, kind: str, authorization_id: str) -> Response:
        page = _KINDS.get(kind)
        if page is None:
            return _not_found()
        action = (await request.form()).get("action")
        if action not in ("approve", "fail"):
            return _message_page(400, "Unknown action", "Choose one of the page's buttons.")
        approve = action == "approve"
        authorization = store.transact(
            lambda tx: authorizations.complete(tx, page, authorization_id, approve)
        )
        if authorization is None:
            return _not_found()
        target = authorization.page_url
        if authorization.return_url is not None:
            target = _return_link(authorization.return_url, authorization.id)
        assert target is not None
        return RedirectResponse(target, status_code=303)

    return router


def _return_link(return_url: str, authorization_id: str) -> str:
    """The merchant's return_url, telling it which authorization the customer comes back from."""
    scheme, netloc, path, query, fragment = urlsplit(return_url)
    added = urlencode({"authorization": authorization_id})
    return urlunsplit((scheme, netloc, path, f"{query}&{added}" if query else added, fragment))


def _render(kind: PageKind, authorization: Authorization) -> str:
    amount = f"{to_decimal(authorization.amount, authorization.currency)} "
    amount += authorization.currency.upper()
    details = (
        "<dl>"
        f"<dt>Merchant reference</dt><dd>{escape(authorization.merchant_reference)}</dd>"
        f"<dt>Amount</dt><dd>{amount}</dd>"
        "</dl>"
    )
    if authorization.status == "requires_action":
        return _document(_HEADINGS[kind], details + _form(kind, authorization))
    return _document(_HEADINGS[kind], details + _result(authorization))


def _form(kind: PageKind, authorization: Authorization) -> str:
    approve, fail = _BUTTONS[kind]
    # Relative, so the page works under whatever prefix PUBLIC_URL puts it.
    action = escape(f"{authorization.id}/complete")
    return (
        f'<form method="post" action="{action}" aria-describedby="prompt">'
        f'<p id="prompt">{_PROMPTS[kind]}</p>'
        f'<button type="submit" id="approve" name="action" value="approve">{approve}</button>'
        f'<button type="submit" id="fail" name="action" value="fail">{fail}</button>'
        "</form>"
    )


def _result(authorization: Authorization) -> str:
    if authorization.expired:
        outcome = "This payment request has expired."
    elif authorization.decline is not None:
        outcome = authorization.decline.message
    else:
        outcome = _OUTCOMES[authorization.status]
    html = (
        f'<p role="status">Status: <strong id="status">{authorization.status}</strong></p>'
        f"<p>{escape(outcome)}</p>"
    )
    if authorization.return_url is not None:
        link = escape(_return_link(authorization.return_url, authorization.id))
        html += f'<p><a id="return" href="{link}">Return to the merchant</a></p>'
    return html


def _not_found() -> HTMLResponse:
    return _message_page(404, "Payment not found", "There is no such payment request.")


def _message_page(status_code: int, heading: str, text: str) -> HTMLResponse:
    return HTMLResponse(
        _document(heading, f"<p>{escape(text)}</p>"), status_code=status_code, headers=_NO_STORE
    )


def _document(heading: str, content: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(heading)} - Payplane PSP simulator</title>"
        f"<style>{_STYLE}</style></head>"
        f"<body><main><h1>{escape(heading)}</h1>{content}</main></body></html>"
    )
