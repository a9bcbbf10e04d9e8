"""GET /redirect/return/{attempt}: where PSP pages send customers back to Payplane.

Not under /v1 and without API keys: the customer's browser comes here, and nothing it says is
trusted. Payplane asks the PSP what happened, applies it, and sends the customer on to the
merchant's return_url with Stripe's query parameters. Any number of visits (a double click, the
back button, a visit after the action expired) is harmless: each is only a status check.
"""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from payplane.domain.errors import ResourceMissing
from payplane.services.customer_actions import CustomerActions

router = APIRouter(prefix="/redirect", tags=["redirects"], include_in_schema=False)
RETURN_PATH = "/redirect/return"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p id="status">{message}</p></body></html>"""


@router.get("/return/{attempt_id}")
async def customer_return(attempt_id: str, request: Request) -> Response:
    actions: CustomerActions = request.app.state.container.customer_actions
    try:
        back = await actions.returned(attempt_id)
    except ResourceMissing:
        return _page(404, "Payment not found", "This payment link is not valid.")
    if back.redirect_to is not None:
        return RedirectResponse(back.redirect_to, status_code=303)
    status = back.payment_intent["status"]
    return _page(200, "Payment status", f"The payment's status is {status}.")


def _page(status_code: int, title: str, message: str) -> HTMLResponse:
    body = _PAGE.format(title=html.escape(title), message=html.escape(message))
    return HTMLResponse(body, status_code=status_code, headers={"Cache-Control": "no-store"})
