"""The public port: tokenization with a publishable key, the hosted card form, health."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from fastapi import FastAPI, Request
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from card_vault import cards, form
from card_vault.cards import Card
from card_vault.errors import install_handlers, invalid, json_response
from card_vault.requests import decode
from card_vault.vault import Vault

_TOP_LEVEL = frozenset({"type", "card", "billing_details"})
_CARD_FIELDS = frozenset({"number", "exp_month", "exp_year", "cvc"})
_BILLING_FIELDS = frozenset({"name"})


def utc_today() -> date:
    return datetime.now(UTC).date()


def publishable_key(request: Request) -> str:
    """The key from `Authorization: Bearer pk_...` (or Basic auth, as `curl -u pk_...:` sends)."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    key = ""
    if scheme.lower() == "bearer":
        key = credentials.strip()
    elif scheme.lower() == "basic":
        try:
            key = base64.b64decode(credentials.strip(), validate=True).decode().split(":", 1)[0]
        except (binascii.Error, UnicodeDecodeError):
            key = ""
    if not key:
        raise invalid(
            "api_key_missing",
            "You did not provide an API key. Send your publishable key in the Authorization "
            "header: 'Authorization: Bearer pk_test_...'.",
            status=401,
        )
    if key.startswith(("sk_", "rk_")):
        raise invalid(
            "secret_key_not_allowed",
            "The card vault takes publishable keys (pk_...): never send a secret or restricted "
            "key to it. Roll this key if it was exposed.",
            status=401,
        )
    return key


def _text(value: object, param: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise invalid("parameter_invalid", f"Invalid {param}: must be a string or an integer.", param)


def _group(params: dict[str, Any], name: str, allowed: frozenset[str]) -> dict[str, Any]:
    group = params.get(name, {})
    if not isinstance(group, dict):
        raise invalid("parameter_invalid", f"Invalid {name}: must be an object.", name)
    for key in group:
        if key not in allowed:
            param = f"{name}[{cards.redact_pans(str(key))}]"
            raise invalid("parameter_unknown", f"Received unknown parameter: {param}", param)
    return group


def card_from_params(params: dict[str, Any], on: date) -> Card:
    for key in params:
        if key not in _TOP_LEVEL:
            shown = cards.redact_pans(str(key))
            raise invalid("parameter_unknown", f"Received unknown parameter: {shown}", shown)
    kind = params.get("type")
    if kind is None:
        raise invalid("parameter_missing", "Missing required param: type.", "type")
    if kind != "card":
        raise invalid(
            "parameter_invalid",
            "Invalid type: the card vault creates payment methods of type card only.",
            "type",
        )
    if "card" not in params:
        raise invalid("parameter_missing", "Missing required param: card[number].", "card[number]")
    card = _group(params, "card", _CARD_FIELDS)
    billing = _group(params, "billing_details", _BILLING_FIELDS)
    return cards.validate(
        number=_text(card.get("number"), "card[number]"),
        exp_month=_text(card.get("exp_month"), "card[exp_month]"),
        exp_year=_text(card.get("exp_year"), "card[exp_year]"),
        cvc=_text(card.get("cvc"), "card[cvc]"),
        holder_name=_text(billing.get("name"), "billing_details[name]"),
        today=on,
    )


def create_public_app(
    vault: Vault,
    *,
    clock: Callable[[], float] = time.time,
    today: Callable[[], date] = utc_today,
) -> FastAPI:
    app = FastAPI(title="Payplane card vault", docs_url=None, redoc_url=None, openapi_url=None)
    install_handlers(app)
    # Browsers on merchants' pages may tokenize directly, as with Stripe.js: no cookies involved.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["POST"],
        allow_headers=["Authorization", "Content-Type"],
    )

    @app.get("/healthz")
    async def healthz() -> Response:
        return json_response(200, {"status": "ok"})

    @app.post("/v1/payment_methods")
    async def create_payment_method(request: Request) -> Response:
        merchant_id = await vault.merchant_for(publishable_key(request))
        card = card_from_params(await decode(request), today())
        return json_response(200, await vault.tokenize(merchant_id, card, int(clock())))

    app.include_router(form.build_router(vault, clock=clock, today=today))
    return app
