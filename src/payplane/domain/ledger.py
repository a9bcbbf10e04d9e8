"""Double-entry postings for every money movement of a payment.

Accounts are named by codes so that a merchant's, a PSP's and the suspense accounts are found
without a lookup table: `merchant:<id>:<currency>:<purpose>` and
`psp:<connector>:<currency>:<purpose>`.

An authorization is a hold: it moves the amount from the PSP's `authorizations` account into the
merchant's `authorized` account. Capture, void and expiry each release the whole hold exactly once
(the journal names the hold it resolves; the database keeps that unique) and capture then books
the captured amount as receivable from the PSP and payable to the merchant. A partial capture
therefore releases the rest of the hold by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from payplane.domain.money import Money


class Direction(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


class EntryType(StrEnum):
    AUTH = "auth"
    CAPTURE = "capture"
    REFUND = "refund"
    CHARGEBACK = "chargeback"
    FEE = "fee"
    SETTLEMENT = "settlement"
    ADJUSTMENT = "adjustment"


class JournalKind(StrEnum):
    AUTHORIZATION = "authorization"
    CAPTURE = "capture"
    VOID = "void"
    EXPIRY = "expiry"
    REFUND = "refund"
    REFUND_REVERSAL = "refund_reversal"
    CHARGEBACK = "chargeback"
    CHARGEBACK_REVERSAL = "chargeback_reversal"


def merchant_account(merchant_id: str, currency: str, purpose: str) -> str:
    return f"merchant:{merchant_id}:{currency}:{purpose}"


def psp_account(connector: str, currency: str, purpose: str) -> str:
    return f"psp:{connector}:{currency}:{purpose}"


@dataclass(frozen=True, slots=True)
class Entry:
    account: str
    direction: Direction
    money: Money
    entry_type: EntryType


@dataclass(slots=True)
class Journal:
    kind: JournalKind
    payment_intent_id: str
    entries: list[Entry] = field(default_factory=list)
    hold_id: str | None = None
    resolves_hold_id: str | None = None

    def move(self, money: Money, *, debit: str, credit: str, entry_type: EntryType) -> None:
        """Add one balanced pair: `money` leaves `credit` and arrives in `debit`."""
        if money.amount <= 0:
            raise ValueError("a ledger movement must be positive")
        self.entries.append(Entry(debit, Direction.DEBIT, money, entry_type))
        self.entries.append(Entry(credit, Direction.CREDIT, money, entry_type))

    def imbalance(self) -> dict[str, int]:
        """Debits minus credits per currency; empty when the journal balances."""
        totals: dict[str, int] = {}
        for entry in self.entries:
            sign = 1 if entry.direction is Direction.DEBIT else -1
            totals[entry.money.currency] = (
                totals.get(entry.money.currency, 0) + sign * entry.money.amount
            )
        return {currency: total for currency, total in totals.items() if total}


@dataclass(frozen=True, slots=True)
class Hold:
    id: str
    merchant_id: str
    connector: str
    money: Money


def authorization(hold: Hold, payment_intent_id: str) -> Journal:
    journal = Journal(JournalKind.AUTHORIZATION, payment_intent_id, hold_id=hold.id)
    cur = hold.money.currency
    journal.move(
        hold.money,
        debit=psp_account(hold.connector, cur, "authorizations"),
        credit=merchant_account(hold.merchant_id, cur, "authorized"),
        entry_type=EntryType.AUTH,
    )
    return journal


def _release(journal: Journal, hold: Hold) -> None:
    cur = hold.money.currency
    journal.move(
        hold.money,
        debit=merchant_account(hold.merchant_id, cur, "authorized"),
        credit=psp_account(hold.connector, cur, "authorizations"),
        entry_type=EntryType.AUTH,
    )


def capture(hold: Hold, payment_intent_id: str, captured: Money) -> Journal:
    if captured.currency != hold.money.currency or not 0 < captured.amount <= hold.money.amount:
        raise ValueError("a capture takes a positive amount of at most the hold, in its currency")
    journal = Journal(JournalKind.CAPTURE, payment_intent_id, resolves_hold_id=hold.id)
    _release(journal, hold)
    cur = captured.currency
    journal.move(
        captured,
        debit=psp_account(hold.connector, cur, "receivable"),
        credit=merchant_account(hold.merchant_id, cur, "payable"),
        entry_type=EntryType.CAPTURE,
    )
    return journal


def void(hold: Hold, payment_intent_id: str, *, kind: JournalKind = JournalKind.VOID) -> Journal:
    journal = Journal(kind, payment_intent_id, resolves_hold_id=hold.id)
    _release(journal, hold)
    return journal


def refund(merchant_id: str, connector: str, payment_intent_id: str, money: Money) -> Journal:
    """The PSP accepted a refund: the merchant owes the customer, the PSP pays it out."""
    journal = Journal(JournalKind.REFUND, payment_intent_id)
    cur = money.currency
    journal.move(
        money,
        debit=merchant_account(merchant_id, cur, "payable"),
        credit=psp_account(connector, cur, "receivable"),
        entry_type=EntryType.REFUND,
    )
    return journal


def refund_reversal(
    merchant_id: str, connector: str, payment_intent_id: str, money: Money
) -> Journal:
    """A booked refund failed or was canceled later: new entries undo it, nothing is edited."""
    journal = Journal(JournalKind.REFUND_REVERSAL, payment_intent_id)
    cur = money.currency
    journal.move(
        money,
        debit=psp_account(connector, cur, "receivable"),
        credit=merchant_account(merchant_id, cur, "payable"),
        entry_type=EntryType.REFUND,
    )
    return journal


def chargeback(
    merchant_id: str, connector: str, payment_intent_id: str, disputed: Money, fee: Money
) -> Journal:
    """Funds withdrawn for a dispute; the PSP's dispute fee is booked apart from the amount."""
    journal = Journal(JournalKind.CHARGEBACK, payment_intent_id)
    cur = disputed.currency
    journal.move(
        disputed,
        debit=merchant_account(merchant_id, cur, "payable"),
        credit=psp_account(connector, cur, "receivable"),
        entry_type=EntryType.CHARGEBACK,
    )
    if fee.amount:
        journal.move(
            fee,
            debit=merchant_account(merchant_id, fee.currency, "fees"),
            credit=psp_account(connector, fee.currency, "receivable"),
            entry_type=EntryType.FEE,
        )
    return journal


def chargeback_reversal(
    merchant_id: str, connector: str, payment_intent_id: str, disputed: Money
) -> Journal:
    """A won dispute reinstates the disputed amount; the fee stays charged."""
    journal = Journal(JournalKind.CHARGEBACK_REVERSAL, payment_intent_id)
    cur = disputed.currency
    journal.move(
        disputed,
        debit=psp_account(connector, cur, "receivable"),
        credit=merchant_account(merchant_id, cur, "payable"),
        entry_type=EntryType.CHARGEBACK,
    )
    return journal
