"""Authorization use cases: create (any product), capture, void, expire, and the customer's answer
on a hosted page. Each runs inside one store transaction.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from psp_simulator import cards, payment_methods
from psp_simulator.errors import ApiError, error_body
from psp_simulator.models import Authorization, Outcome
from psp_simulator.payloads import (
    AuthorizationRequest,
    CaptureRequest,
    ExpireRequest,
    VoidRequest,
    parse,
)
from psp_simulator.payment_methods import (
    ACTION_EXPIRED,
    PAGE_FAILURES,
    PRODUCT_OF_PAGE,
    RULES,
    MethodTiming,
    PageKind,
    Product,
)
from psp_simulator.store import Transaction

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Charge:
    """A validated create request with its payment method already resolved."""

    request: AuthorizationRequest
    method: payment_methods.Method


def preparer(product: Product) -> Callable[[object], Charge]:
    """The validation of `product`'s create endpoint."""
    return lambda payload: prepare_authorization(product, payload)


def prepare_authorization(product: Product, payload: object) -> Charge:
    request = parse(AuthorizationRequest, payload)
    try:
        if request.card is not None:
            method = payment_methods.resolve_card(
                product, request.card.number, request.card.exp_month, request.card.exp_year
            )
        else:
            assert request.payment_method is not None
            method = payment_methods.resolve_token(product, request.payment_method)
    except cards.InvalidPaymentMethodError as exc:
        raise ApiError(400, exc.code, exc.message, exc.param) from None
    _check_rules(product, request)
    return Charge(request, method)


def prepare_capture(payload: object) -> CaptureRequest:
    return parse(CaptureRequest, payload)


def prepare_void(payload: object) -> VoidRequest:
    return parse(VoidRequest, payload)


def prepare_expire(payload: object) -> ExpireRequest:
    return parse(ExpireRequest, payload)


def authorize(tx: Transaction, charge: Charge, timing: MethodTiming, public_url: str) -> Outcome:
    request, method = charge.request, charge.method
    now = time.time()
    authorization_id = f"psp_{secrets.token_hex(12)}"
    page = method.page
    authorization = Authorization(
        id=authorization_id,
        merchant_reference=request.merchant_reference,
        amount=request.amount,
        currency=request.currency,
        status="requires_action",
        captured_amount=0,
        payment_method=method.payment_method,
        decline=None,
        created=int(now),
        product=method.product,
        page_url=None if page is None else f"{public_url}/pages/{page}/{authorization_id}",
        return_url=None if RULES[method.product].return_url == "ignored" else request.return_url,
        expires_at=None if page is None else now + timing.action_timeout_seconds,
        capture=request.capture,
        final_decline=method.decline,
        settle_seconds=timing.settle_seconds(method.product),
        due_at=None,
        idempotency_key=tx.idempotency_key,
    )
    if page is None:
        # Nobody to wait for: as if the customer had approved on the spot.
        authorization.proceed(now)
    tx.insert(authorization)
    logger.info(
        "authorization %s %s %s %s %s",
        authorization.id,
        authorization.status,
        request.amount,
        request.currency,
        method.label,
    )
    return Outcome(200, authorization.to_json())


def capture(tx: Transaction, authorization_id: str, request: CaptureRequest) -> Outcome:
    authorization = current(tx, authorization_id)
    if authorization is None:
        return not_found(authorization_id)
    if not RULES[authorization.product].manual_capture:
        return _invalid_state(
            f"Authorization {authorization.id} is a {authorization.product} payment, captured "
            "automatically; only card and wallet payments can be captured."
        )
    if authorization.status != "authorized":
        return _invalid_state(
            f"Authorization {authorization.id} has status {authorization.status}; "
            "only an authorized authorization can be captured."
        )
    amount = authorization.amount if request.amount is None else request.amount
    if amount > authorization.amount:
        return Outcome(
            400,
            error_body(
                400,
                "amount_too_large",
                f"Capture amount {amount} exceeds the authorized amount {authorization.amount}.",
                "amount",
            ),
        )
    # A partial capture releases the remainder of the hold: nothing more can be captured.
    authorization.status = "captured"
    authorization.captured_amount = amount
    tx.update(authorization, "capture")
    return Outcome(200, authorization.to_json())


def void(tx: Transaction, authorization_id: str) -> Outcome:
    authorization = current(tx, authorization_id)
    if authorization is None:
        return not_found(authorization_id)
    if authorization.status not in ("authorized", "requires_action"):
        return _invalid_state(
            f"Authorization {authorization.id} has status {authorization.status}; only an "
            "authorized authorization, or one waiting for its customer, can be voided."
        )
    authorization.status = "voided"
    tx.update(authorization, "void")
    return Outcome(200, authorization.to_json())


def expire(tx: Transaction, authorization_id: str) -> Outcome:
    """Give up on the customer now; anything else answers the authorization as it stands."""
    authorization = current(tx, authorization_id)
    if authorization is None:
        return not_found(authorization_id)
    if authorization.status == "requires_action":
        authorization.decline_with(ACTION_EXPIRED)
        tx.update(authorization, "expire")
    return Outcome(200, authorization.to_json())


def on_page(tx: Transaction, kind: PageKind, authorization_id: str) -> Authorization | None:
    """The authorization whose customer is sent to the `kind` page, as it stands now."""
    authorization = current(tx, authorization_id)
    if (
        authorization is None
        or authorization.page_url is None
        or PRODUCT_OF_PAGE[kind] != authorization.product
    ):
        return None
    return authorization


def complete(
    tx: Transaction, kind: PageKind, authorization_id: str, approve: bool
) -> Authorization | None:
    """The customer's answer on the hosted page.

    Only a payment still waiting for it changes: a double submit, the back button, an expired
    or a voided payment leave it as it is.
    """
    authorization = on_page(tx, kind, authorization_id)
    # Expiry has been applied by on_page, so a payment still waiting has not expired.
    if authorization is None or authorization.status != "requires_action":
        return authorization
    if approve:
        authorization.proceed(time.time())
    else:
        authorization.decline_with(PAGE_FAILURES[kind])
    tx.update(authorization, "authorize")
    logger.info("authorization %s %s by its customer", authorization.id, authorization.status)
    return authorization


def current(tx: Transaction, authorization_id: str) -> Authorization | None:
    """The authorization as it stands now, with what the clock has decided applied."""
    tx.settle_due_authorizations(time.time())
    return tx.get(authorization_id)


def not_found(authorization_id: str) -> Outcome:
    """The stored answer for an operation on an authorization that does not exist."""
    return Outcome(
        404, error_body(404, "not_found", f"No such authorization: '{authorization_id}'.")
    )


def _check_rules(product: Product, request: AuthorizationRequest) -> None:
    rules = RULES[product]
    if rules.currencies is not None and request.currency not in rules.currencies:
        raise ApiError(
            400,
            "currency_not_supported",
            f"Currency '{request.currency}' is not supported for {product} payments; "
            f"use one of: {', '.join(sorted(rules.currencies))}.",
            "currency",
        )
    if not rules.manual_capture and not request.capture:
        raise ApiError(
            400,
            "capture_not_supported",
            f"{product} payments are captured automatically: capture must be true.",
            "capture",
        )
    if rules.return_url == "required" and request.return_url is None:
        raise ApiError(
            400, "parameter_missing", "Missing required param: return_url.", "return_url"
        )


def _invalid_state(message: str) -> Outcome:
    return Outcome(409, error_body(409, "invalid_state", message))
