"""Reconciliation breaks and the remediation items they become.

An item goes open -> in_review -> resolved | auto_resolved | written_off; the three last are
final. Money is never edited: resolving an item that holds an amount in suspense posts an
adjusting journal out of suspense (to a named account, or to the write-off expense).
"""

from __future__ import annotations

import re
from enum import StrEnum

from payplane.domain.errors import InvalidRequest, UnexpectedState


class BreakType(StrEnum):
    MISSING_IN_REPORT = "missing_in_report"  # Payplane booked it; no report has it (yet)
    MISSING_INTERNALLY = "missing_internally"  # the report has it; Payplane never booked it
    AMOUNT_MISMATCH = "amount_mismatch"
    CURRENCY_MISMATCH = "currency_mismatch"
    STATUS_MISMATCH = "status_mismatch"  # e.g. Refunded for a refund Payplane has as failed
    DUPLICATE_IN_REPORT = "duplicate_in_report"  # a second line for one movement
    UNEXPECTED_CHARGEBACK = "unexpected_chargeback"  # a chargeback Payplane has no dispute for
    PAYOUT_MISMATCH = "payout_mismatch"  # the payout is not the sum of the batch's lines
    # Not from a report: a PSP call the PSP still cannot account for (the janitor's).
    UNRESOLVED_PAYMENT = "unresolved_payment"


class MovementKind(StrEnum):
    """A Payplane money movement a report line settles, named by the object it belongs to."""

    CAPTURE = "capture"  # id: the payment intent
    REFUND = "refund"  # id: the refund
    CHARGEBACK = "chargeback"  # id: the dispute
    CHARGEBACK_FEE = "chargeback_fee"  # id: the dispute
    CHARGEBACK_REVERSAL = "chargeback_reversal"  # id: the dispute


class ItemStatus(StrEnum):
    OPEN = "open"
    IN_REVIEW = "in_review"
    RESOLVED = "resolved"
    AUTO_RESOLVED = "auto_resolved"
    WRITTEN_OFF = "written_off"

    @property
    def is_final(self) -> bool:
        return self not in (ItemStatus.OPEN, ItemStatus.IN_REVIEW)


class Action(StrEnum):
    ASSIGN = "assign"
    NOTE = "note"
    REVIEW = "review"
    RESOLVE = "resolve"
    WRITE_OFF = "write_off"


# The status each action leads to (None: unchanged) and the statuses it may start from.
_ACTIONS: dict[Action, tuple[ItemStatus | None, frozenset[ItemStatus]]] = {
    Action.ASSIGN: (None, frozenset({ItemStatus.OPEN, ItemStatus.IN_REVIEW})),
    Action.NOTE: (None, frozenset(ItemStatus)),  # a closed item may still be annotated
    Action.REVIEW: (ItemStatus.IN_REVIEW, frozenset({ItemStatus.OPEN})),
    Action.RESOLVE: (ItemStatus.RESOLVED, frozenset({ItemStatus.OPEN, ItemStatus.IN_REVIEW})),
    Action.WRITE_OFF: (
        ItemStatus.WRITTEN_OFF,
        frozenset({ItemStatus.OPEN, ItemStatus.IN_REVIEW}),
    ),
}


def after(action: Action, status: ItemStatus) -> ItemStatus:
    """The item's status after `action`, or UnexpectedState saying which statuses allow it."""
    target, allowed = _ACTIONS[action]
    if status not in allowed:
        names = ", ".join(sorted(s.value for s in allowed))
        raise UnexpectedState(
            f"You cannot {action.value.replace('_', ' ')} this remediation item because it has "
            f"a status of {status.value}. Only an item with one of the following statuses "
            f"may be: {names}.",
            code="remediation_item_unexpected_state",
        )
    return target or status


# An account an operator may move a break's amount to, without its currency: `<owner>:<name>:
# <purpose>`. Merchant accounts are not among them: they follow their payments, which the
# ledger audit checks.
_TARGET = re.compile(r"(psp|platform|suspense):([a-z0-9_]{1,64}):([a-z0-9_]{1,64})")


def target_account(account: str, currency: str) -> str:
    """The account code for `account` (owner:name:purpose) in `currency`."""
    match = _TARGET.fullmatch(account)
    if match is None:
        raise InvalidRequest(
            f"Invalid account: {account!r}. Name it as owner:name:purpose with owner one of "
            "psp, platform or suspense (e.g. platform:adjustments:bank_fees); Payplane books it "
            "in each currency of the item.",
            code="parameter_invalid",
            param="account",
        )
    owner, name, purpose = match.groups()
    return f"{owner}:{name}:{currency}:{purpose}"
