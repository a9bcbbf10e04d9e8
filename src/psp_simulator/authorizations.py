"""Authorization use cases: authorize, capture, void. Each runs inside one store transaction."""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass

from psp_simulator import cards
from psp_simulator.errors import ApiError, error_body
from psp_simulator.models import Authorization, Outcome, Status
from psp_simulator.payloads import AuthorizationRequest, CaptureRequest, VoidRequest, parse
from psp_simulator.store import Transaction

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Charge:
    """A validated authorization request with its card already resolved by the issuer table."""

    request: AuthorizationRequest
    card: cards.ResolvedCard


def prepare_authorization(payload: object) -> Charge:
    request = parse(AuthorizationRequest, payload)
    try:
        if request.card is not None:
            card = cards.resolve_number(
                request.card.number, request.card.exp_month, request.card.exp_year
            )
        else:
            assert request.payment_method is not None
            card = cards.resolve_token(request.payment_method)
    except cards.InvalidPaymentMethodError as exc:
        raise ApiError(400, exc.code, exc.message, exc.param) from None
    return Charge(request, card)


def prepare_capture(payload: object) -> CaptureRequest:
    return parse(CaptureRequest, payload)


def prepare_void(payload: object) -> VoidRequest:
    return parse(VoidRequest, payload)


def authorize(tx: Transaction, charge: Charge) -> Outcome:
    request, card = charge.request, charge.card
    status: Status = "authorized"
    if card.decline is not None:
        status = "declined"
    elif request.capture:
        status = "captured"
    authorization = Authorization(
        id=f"psp_{secrets.token_hex(12)}",
        merchant_reference=request.merchant_reference,
        amount=request.amount,
        currency=request.currency,
        status=status,
        captured_amount=request.amount if status == "captured" else 0,
        payment_method=card.payment_method,
        decline=card.decline,
        created=int(time.time()),
    )
    tx.insert(authorization)
    logger.info(
        "authorization %s %s %s %s %s last4=%s",
        authorization.id,
        status,
        request.amount,
        request.currency,
        card.brand,
        card.last4,
    )
    return Outcome(200, authorization.to_json())


def capture(tx: Transaction, authorization_id: str, request: CaptureRequest) -> Outcome:
    authorization = tx.get(authorization_id)
    if authorization is None:
        return not_found(authorization_id)
    if authorization.status != "authorized":
        return _invalid_state(authorization, "captured")
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
    tx.update(authorization)
    return Outcome(200, authorization.to_json())


def void(tx: Transaction, authorization_id: str) -> Outcome:
    authorization = tx.get(authorization_id)
    if authorization is None:
        return not_found(authorization_id)
    if authorization.status != "authorized":
        return _invalid_state(authorization, "voided")
    authorization.status = "voided"
    tx.update(authorization)
    return Outcome(200, authorization.to_json())


def not_found(authorization_id: str) -> Outcome:
    """The stored answer for an operation on an authorization that does not exist."""
    return Outcome(
        404, error_body(404, "not_found", f"No such authorization: '{authorization_id}'.")
    )


def _invalid_state(authorization: Authorization, verb: str) -> Outcome:
    message = (
        f"Authorization {authorization.id} has status {authorization.status}; "
        f"only an authorized authorization can be {verb}."
    )
    return Outcome(409, error_body(409, "invalid_state", message))
