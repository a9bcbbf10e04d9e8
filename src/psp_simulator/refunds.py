"""Refund use cases: create and cancel, with outcomes chosen at runtime by the operator.

A refund's final status can lie in the future (pending_then_*). Every read or action first settles
the refunds that are due, so what a client sees depends only on time; the app's sweeper settles them
too, so their webhook events go out on time even if nobody reads them.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from psp_simulator.authorizations import current as current_authorization
from psp_simulator.authorizations import not_found
from psp_simulator.errors import error_body
from psp_simulator.models import INSUFFICIENT_FUNDS, Outcome, Refund, RefundStatus
from psp_simulator.payloads import CancelRefundRequest, RefundRequest, parse
from psp_simulator.store import Transaction

logger = logging.getLogger(__name__)

RefundMode = Literal["succeed", "pending_then_succeed", "pending_then_fail", "fail"]
# The status a new refund gets in each mode, and the one it settles to once its delay has passed.
_LIFECYCLES: dict[RefundMode, tuple[RefundStatus, RefundStatus | None]] = {
    "succeed": ("succeeded", None),
    "fail": ("failed", None),
    "pending_then_succeed": ("pending", "succeeded"),
    "pending_then_fail": ("pending", "failed"),
}


class RefundBehavior(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: RefundMode = "succeed"
    delay_seconds: Annotated[float, Field(ge=0.0, le=86_400.0)] = 2.0


class RefundBehaviorControl:
    """How new refunds behave, switched at runtime through /admin/refund_behavior."""

    def __init__(self) -> None:
        self.config = RefundBehavior()

    def reset(self) -> None:
        self.config = RefundBehavior()


def prepare_refund(payload: object) -> RefundRequest:
    return parse(RefundRequest, payload)


def prepare_cancel(payload: object) -> CancelRefundRequest:
    return parse(CancelRefundRequest, payload)


def create(
    tx: Transaction,
    authorization_id: str,
    request: RefundRequest,
    behavior: RefundBehavior,
    debit_refund_seconds: float,
) -> Outcome:
    authorization = current_authorization(tx, authorization_id)
    if authorization is None:
        return not_found(authorization_id)
    if authorization.status != "captured":
        return _invalid_state(
            f"Authorization {authorization.id} has status {authorization.status}; "
            "only a captured authorization can be refunded."
        )
    now = time.time()
    # A pending refund that has failed by now no longer holds back part of the captured amount.
    tx.refunds.settle_due(now)
    refundable = authorization.captured_amount - tx.refunds.committed_amount(authorization.id)
    amount = refundable if request.amount is None else request.amount
    if refundable == 0 or amount > refundable:
        message = (
            f"Authorization {authorization.id} has already been refunded in full."
            if refundable == 0
            else f"Refund amount {amount} exceeds the refundable amount {refundable}."
        )
        return Outcome(400, error_body(400, "amount_too_large", message, "amount"))
    status, final_status = _LIFECYCLES[behavior.mode]
    delay = behavior.delay_seconds
    if authorization.product == "bank_debit":
        # Money goes back to a bank account through the banks' clearing: never at once.
        status, final_status = "pending", final_status or status
        delay = debit_refund_seconds
    refund = Refund(
        id=f"psr_{secrets.token_hex(12)}",
        authorization_id=authorization.id,
        amount=amount,
        currency=authorization.currency,
        status=status,
        failure_reason=INSUFFICIENT_FUNDS if status == "failed" else None,
        created=int(now),
        due_at=None if final_status is None else now + delay,
        final_status=final_status,
    )
    tx.refunds.insert(refund)
    logger.info("refund %s %s %s of %s", refund.id, status, amount, authorization.id)
    return Outcome(200, refund.to_json())


def cancel(tx: Transaction, refund_id: str) -> Outcome:
    refund = current(tx, refund_id)
    if refund is None:
        return Outcome(404, error_body(404, "not_found", f"No such refund: '{refund_id}'."))
    if refund.status != "pending":
        return _invalid_state(
            f"Refund {refund.id} has status {refund.status}; only a pending refund can be canceled."
        )
    refund.status = "canceled"
    tx.refunds.update_status(refund)
    return Outcome(200, refund.to_json())


def current(tx: Transaction, refund_id: str) -> Refund | None:
    """The refund as it stands now, its due settlement applied."""
    tx.refunds.settle_due(time.time())
    return tx.refunds.get(refund_id)


def _invalid_state(message: str) -> Outcome:
    return Outcome(409, error_body(409, "invalid_state", message))
