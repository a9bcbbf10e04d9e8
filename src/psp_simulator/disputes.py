"""Dispute use cases: the operator opens disputes and rules on them; the merchant answers.

Statuses and moves follow Stripe's: an inquiry (warning_*) is reviewed and closed, or escalates
into a chargeback; a chargeback is reviewed and won or lost. A closed dispute never changes again.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from psp_simulator.authorizations import current, not_found
from psp_simulator.errors import error_body
from psp_simulator.models import Dispute, DisputeStatus, Outcome
from psp_simulator.payloads import CloseDisputeRequest, EvidenceRequest, parse
from psp_simulator.store import Transaction

logger = logging.getLogger(__name__)

DisputeReason = Literal[
    "bank_cannot_process",
    "check_returned",
    "credit_not_processed",
    "customer_initiated",
    "debit_not_authorized",
    "duplicate",
    "fraudulent",
    "general",
    "incorrect_account_details",
    "insufficient_funds",
    "product_not_received",
    "product_unacceptable",
    "subscription_canceled",
    "unrecognized",
]
EVIDENCE_WINDOW_SECONDS = 7 * 24 * 3600

# Every move the card network allows; closed statuses have none.
_MOVES: dict[DisputeStatus, frozenset[DisputeStatus]] = {
    "warning_needs_response": frozenset(
        {"warning_under_review", "warning_closed", "needs_response"}
    ),
    "warning_under_review": frozenset({"warning_closed", "needs_response"}),
    "warning_closed": frozenset(),
    "needs_response": frozenset({"under_review", "won", "lost"}),
    "under_review": frozenset({"won", "lost"}),
    "won": frozenset(),
    "lost": frozenset(),
}
# Submitting evidence asks for a review; accepting a dispute concedes it.
_ON_SUBMIT: dict[DisputeStatus, DisputeStatus] = {
    "warning_needs_response": "warning_under_review",
    "needs_response": "under_review",
}
_ON_CLOSE: dict[DisputeStatus, DisputeStatus] = {
    "warning_needs_response": "warning_closed",
    "warning_under_review": "warning_closed",
    "needs_response": "lost",
    "under_review": "lost",
}


class OpenDisputeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    authorization: Annotated[StrictStr, Field(min_length=1, max_length=255)]
    amount: Annotated[StrictInt, Field(gt=0)] | None = None
    reason: DisputeReason = "fraudulent"
    inquiry: StrictBool = False


class DisputeStatusRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    status: DisputeStatus


def prepare_evidence(payload: object) -> EvidenceRequest:
    return parse(EvidenceRequest, payload)


def prepare_close(payload: object) -> CloseDisputeRequest:
    return parse(CloseDisputeRequest, payload)


def open_dispute(tx: Transaction, request: OpenDisputeRequest, fee: int) -> Outcome:
    authorization = current(tx, request.authorization)
    if authorization is None:
        return not_found(request.authorization)
    if authorization.status != "captured":
        return _invalid_state(
            f"Authorization {authorization.id} has status {authorization.status}; "
            "only a captured authorization can be disputed."
        )
    amount = authorization.captured_amount if request.amount is None else request.amount
    if amount > authorization.captured_amount:
        message = (
            f"Dispute amount {amount} exceeds the captured amount {authorization.captured_amount}."
        )
        return Outcome(400, error_body(400, "amount_too_large", message, "amount"))
    now = int(time.time())
    dispute = Dispute(
        id=f"psd_{secrets.token_hex(12)}",
        authorization_id=authorization.id,
        merchant_reference=authorization.merchant_reference,
        amount=amount,
        currency=authorization.currency,
        reason=request.reason,
        status="warning_needs_response" if request.inquiry else "needs_response",
        # An inquiry is free; the network charges its fee only for a chargeback.
        fee=0 if request.inquiry else fee,
        evidence={},
        evidence_submitted=False,
        evidence_due_by=now + EVIDENCE_WINDOW_SECONDS,
        created=now,
        change_seq=0,
    )
    return _save(tx, dispute)


def change_status(tx: Transaction, dispute_id: str, status: DisputeStatus, fee: int) -> Outcome:
    dispute = tx.disputes.get(dispute_id)
    if dispute is None:
        return _dispute_not_found(dispute_id)
    if status not in _MOVES[dispute.status]:
        return _invalid_state(
            f"Dispute {dispute.id} cannot move from {dispute.status} to {status}."
        )
    if status == "needs_response":
        # Only an inquiry can get here: it escalated into a chargeback, which costs the fee and
        # asks the merchant for a response of its own.
        dispute.fee = fee
        dispute.evidence_submitted = False
        dispute.evidence_due_by = int(time.time()) + EVIDENCE_WINDOW_SECONDS
    dispute.status = status
    return _save(tx, dispute)


def add_evidence(tx: Transaction, dispute_id: str, request: EvidenceRequest) -> Outcome:
    dispute = tx.disputes.get(dispute_id)
    if dispute is None:
        return _dispute_not_found(dispute_id)
    if not _MOVES[dispute.status]:
        return _invalid_state(f"Dispute {dispute.id} is closed ({dispute.status}).")
    if request.submit:
        if dispute.status not in _ON_SUBMIT:
            return _invalid_state(f"Dispute {dispute.id} is already under review.")
        dispute.status = _ON_SUBMIT[dispute.status]
        dispute.evidence_submitted = True
    dispute.evidence.update(request.evidence)
    return _save(tx, dispute)


def close(tx: Transaction, dispute_id: str) -> Outcome:
    dispute = tx.disputes.get(dispute_id)
    if dispute is None:
        return _dispute_not_found(dispute_id)
    if dispute.status not in _ON_CLOSE:
        return _invalid_state(f"Dispute {dispute.id} is closed ({dispute.status}).")
    dispute.status = _ON_CLOSE[dispute.status]
    return _save(tx, dispute)


def _save(tx: Transaction, dispute: Dispute) -> Outcome:
    tx.disputes.save(dispute)
    logger.info("dispute %s %s change_seq=%d", dispute.id, dispute.status, dispute.change_seq)
    return Outcome(200, dispute.to_json())


def _dispute_not_found(dispute_id: str) -> Outcome:
    return Outcome(404, error_body(404, "not_found", f"No such dispute: '{dispute_id}'."))


def _invalid_state(message: str) -> Outcome:
    return Outcome(409, error_body(409, "invalid_state", message))
