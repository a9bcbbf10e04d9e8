"""Double-entry postings for every money movement of a payment.

Accounts are named by codes so that a merchant's, a PSP's and the suspense accounts are found
without a lookup table: `merchant:<id>:<currency>:<purpose>`,
`psp:<connector>:<currency>:<purpose>`, `suspense:<source>:<currency>:<break type>` and
`platform:<name>:<currency>:<purpose>`.

An authorization is a hold: it moves the amount from the PSP's `authorizations` account into the
merchant's `authorized` account. Capture, void and expiry each release the whole hold exactly once
(the journal names the hold it resolves; the database keeps that unique) and capture then books
the captured amount as receivable from the PSP and payable to the merchant. A partial capture
therefore releases the rest of the hold by construction.

Reconciliation settles the receivable against a PSP's report: per batch and currency, what the
report confirms moves from each connector's receivable to the source's clearing account (what
the PSP pays out), its commission to fee expense at the expected rate plus a fee variance, and
every break to the suspense account of its type, so that each type's open amount is a balance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
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
    SETTLEMENT = "settlement"  # one batch of a settlement report, in one currency
    MISSING_IN_REPORT = "missing_in_report"  # movements no report has confirmed yet
    SETTLEMENT_REVERSAL = "settlement_reversal"  # a superseded run's journals, undone
    REMEDIATION = "remediation"  # an operator's or the system's resolution of a break
    WRITE_OFF = "write_off"


def merchant_account(merchant_id: str, currency: str, purpose: str) -> str:
    return f"merchant:{merchant_id}:{currency}:{purpose}"


def psp_account(connector: str, currency: str, purpose: str) -> str:
    return f"psp:{connector}:{currency}:{purpose}"


def suspense_account(source: str, currency: str, break_type: str) -> str:
    return f"suspense:{source}:{currency}:{break_type}"


def write_off_account(currency: str) -> str:
    return f"platform:reconciliation:{currency}:write_offs"


@dataclass(frozen=True, slots=True)
class Entry:
    account: str
    direction: Direction
    money: Money
    entry_type: EntryType


@dataclass(slots=True)
class Journal:
    kind: JournalKind
    payment_intent_id: str | None  # None for journals about many payments (settlements)
    entries: list[Entry] = field(default_factory=list)
    hold_id: str | None = None
    resolves_hold_id: str | None = None

    def move(self, money: Money, *, debit: str, credit: str, entry_type: EntryType) -> None:
        """Add one balanced pair: `money` leaves `credit` and arrives in `debit`."""
        if money.amount <= 0:
            raise ValueError("a ledger movement must be positive")
        self.entries.append(Entry(debit, Direction.DEBIT, money, entry_type))
        self.entries.append(Entry(credit, Direction.CREDIT, money, entry_type))

    def book(self, account: str, currency: str, net: int, entry_type: EntryType) -> None:
        """One side: a debit of `net` if positive, a credit of -net if negative, none if 0."""
        if net:
            direction = Direction.DEBIT if net > 0 else Direction.CREDIT
            self.entries.append(Entry(account, direction, Money(abs(net), currency), entry_type))

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


@dataclass(frozen=True, slots=True)
class SettlementTotals:
    """A batch's effect in one currency, each figure debits minus credits on its account."""

    source: str
    currency: str
    clearing: int = 0  # what the PSP pays out for the batch
    fees: int = 0  # commission at the expected rate (the fee schedule)
    fee_variance: int = 0  # actual commission minus expected
    receivable: Mapping[str, int] = field(default_factory=dict)  # per connector
    suspense: Mapping[str, int] = field(default_factory=dict)  # per break type


def settlement(totals: SettlementTotals, *, kind: JournalKind = JournalKind.SETTLEMENT) -> Journal:
    """The journal of a batch (or of movements missing from the reports); ValueError if the
    totals do not balance, which would be a bug in whoever added them up."""
    cur, source = totals.currency, totals.source
    journal = Journal(kind, None)
    journal.book(psp_account(source, cur, "clearing"), cur, totals.clearing, EntryType.SETTLEMENT)
    journal.book(psp_account(source, cur, "fees"), cur, totals.fees, EntryType.FEE)
    journal.book(psp_account(source, cur, "fee_variance"), cur, totals.fee_variance, EntryType.FEE)
    for connector, net in sorted(totals.receivable.items()):
        journal.book(psp_account(connector, cur, "receivable"), cur, net, EntryType.SETTLEMENT)
    for break_type, net in sorted(totals.suspense.items()):
        journal.book(suspense_account(source, cur, break_type), cur, net, EntryType.SETTLEMENT)
    _check_balanced(journal)
    return journal


@dataclass(frozen=True, slots=True)
class Balance:
    """What an account holds of something (a break, a run): debits minus credits."""

    account: str
    currency: str
    net: int


def clear_suspense(
    kind: JournalKind, suspense: Iterable[Balance], target: Callable[[str], str]
) -> Journal:
    """Move what a break holds in suspense to `target(currency)` (a write-off expense, an
    operator's adjustment account, the receivable the PSP later confirmed)."""
    journal = Journal(kind, None)
    for leg in suspense:
        journal.book(leg.account, leg.currency, -leg.net, EntryType.ADJUSTMENT)
        journal.book(target(leg.currency), leg.currency, leg.net, EntryType.ADJUSTMENT)
    _check_balanced(journal)
    return journal


def reversal(kind: JournalKind, balances: Iterable[Balance]) -> Journal:
    """New entries undoing what `balances` say was posted; nothing is ever edited."""
    journal = Journal(kind, None)
    for leg in balances:
        journal.book(leg.account, leg.currency, -leg.net, EntryType.ADJUSTMENT)
    _check_balanced(journal)
    return journal


def _check_balanced(journal: Journal) -> None:
    unbalanced = journal.imbalance()
    if unbalanced:
        raise ValueError(f"{journal.kind.value} journal does not balance: {unbalanced}")
