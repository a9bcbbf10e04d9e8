"""The ledger audit (payplane ledger check) on a real PostgreSQL: books written through the real
repositories and PgLedger pass it; each invariant, broken once by hand, is reported by kind.

The session database is shared with tests that write deliberately odd rows, so every assertion
looks only at this module's own subjects (a fresh merchant and a private connector name). Each
break happens inside a transaction that is rolled back: the deferred balance triggers never fire,
and the shared database keeps nothing of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
import pytest
from pg_support import in_uow, new_merchant
from psycopg import sql

from payplane.adapters.db.ledger_check import check_ledger
from payplane.adapters.db.uow import PgUnitOfWork
from payplane.domain import ledger
from payplane.domain.ids import new_id
from payplane.domain.ledger import Hold
from payplane.domain.money import Money
from payplane.domain.payment_intent import CaptureMethod, PaymentIntent, Status
from payplane.domain.refund import Refund, RefundStatus

CREATED = 1_750_000_000


@dataclass(frozen=True)
class Books:
    merchant: str
    connector: str
    captured: str  # manual capture of 600 out of 1000, 200 refunded
    held: str  # authorized 500, not captured yet
    canceled: str  # authorized 300, voided
    disputed: str  # captured 800 automatically, then disputed with funds withdrawn (fee 15)
    payable_account: int
    subjects: frozenset[str]

    def account_code(self, purpose: str) -> str:
        return f"merchant:{self.merchant}:usd:{purpose}"


def _intent(merchant: str, amount: int, status: Status, **amounts: int) -> PaymentIntent:
    return PaymentIntent(
        new_id("pi"), merchant, amount, "usd", status, CaptureMethod.MANUAL, CREATED, **amounts
    )


def _write_books(database_url: str, merchant: str, connector: str) -> tuple[list[str], list[str]]:
    """Post the four payments' journals; returns (intent ids, journal and hold ids)."""
    usd = lambda amount: Money(amount, "usd")  # noqa: E731
    authorized = {"captured": 1000, "held": 500, "canceled": 300, "disputed": 800}
    holds = {
        name: Hold(new_id("att"), merchant, connector, usd(n)) for name, n in authorized.items()
    }
    intents = {
        "captured": _intent(
            merchant, 1000, Status.SUCCEEDED, amount_received=600, amount_refunded=200
        ),
        "held": _intent(merchant, 500, Status.REQUIRES_CAPTURE, amount_capturable=500),
        "canceled": _intent(merchant, 300, Status.CANCELED),
        "disputed": _intent(merchant, 800, Status.SUCCEEDED, amount_received=800),
    }

    async def work(uow: PgUnitOfWork) -> list[str]:
        for intent in intents.values():
            await uow.intents.add(intent)
        ids = {name: intent.id for name, intent in intents.items()}
        journals = [
            await uow.ledger.post(ledger.authorization(hold, ids[name]))
            for name, hold in holds.items()
        ]
        journals += [
            await uow.ledger.post(ledger.capture(holds["captured"], ids["captured"], usd(600))),
            await uow.ledger.post(ledger.void(holds["canceled"], ids["canceled"])),
            await uow.ledger.post(ledger.capture(holds["disputed"], ids["disputed"], usd(800))),
            await uow.ledger.post(ledger.refund(merchant, connector, ids["captured"], usd(200))),
            await uow.ledger.post(
                ledger.chargeback(merchant, connector, ids["disputed"], usd(800), usd(15))
            ),
        ]
        refund = Refund(
            new_id("re"),
            merchant,
            ids["captured"],
            200,
            "usd",
            RefundStatus.SUCCEEDED,
            connector,
            CREATED,
            booked=True,
        )
        await uow.refunds.add(refund)
        return journals

    journals = in_uow(database_url, work)
    return [intent.id for intent in intents.values()], journals + [h.id for h in holds.values()]


@pytest.fixture(scope="module")
def books(database_url: str) -> Books:
    merchant = new_merchant(database_url, "ledger check")
    connector = new_id("itconn")  # private PSP accounts: psp:<connector>:usd:...
    intent_ids, journal_ids = _write_books(database_url, merchant, connector)
    captured, held, canceled, disputed = intent_ids
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO disputes (id, merchant_id, payment_intent_id, amount, currency, fee, "
            "reason, status, connector, psp_dispute_id, psp_change_seq, funds_withdrawn, created) "
            "VALUES (%s, %s, %s, 800, 'usd', 15, 'fraudulent', 'needs_response', %s, %s, 1, "
            "true, %s)",
            (new_id("dp"), merchant, disputed, connector, new_id("psp_dp"), CREATED),
        )
        accounts = dict(
            conn.execute(
                "SELECT code, id FROM ledger_accounts WHERE merchant_id = %s OR code LIKE %s",
                (merchant, f"psp:{connector}:%"),
            ).fetchall()
        )
    subjects = {*intent_ids, *journal_ids, *(f"la_{i}" for i in accounts.values())}
    return Books(
        merchant=merchant,
        connector=connector,
        captured=captured,
        held=held,
        canceled=canceled,
        disputed=disputed,
        payable_account=accounts[f"merchant:{merchant}:usd:payable"],
        subjects=frozenset(subjects),
    )


@pytest.fixture
def tampering(owner: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """The owner's connection inside a transaction that is always rolled back."""
    with owner.transaction(force_rollback=True):
        yield owner


def found(conn: psycopg.Connection, books: Books, *extra: str) -> set[tuple[str, str]]:
    """(kind, subject) of the violations about this module's books (and the extra subjects)."""
    scope = books.subjects | set(extra)
    return {(v.kind, v.subject) for v in check_ledger(conn) if v.subject in scope}


def test_books_written_by_the_platform_pass(owner: psycopg.Connection, books: Books) -> None:
    assert found(owner, books) == set()


# Each break: change the books by hand, return the (kind, subject) pairs the audit must report.


def post_raw(
    conn: psycopg.Connection,
    intent: str,
    kind: str,
    entries: list[tuple[str, str, int]],
    hold_id: str | None = None,
) -> str:
    """A journal of (account code, direction, amount) entries, with no balance check yet."""
    journal_id = new_id("jrn")
    conn.execute(
        "INSERT INTO ledger_journals (id, kind, payment_intent_id, hold_id) "
        "VALUES (%s, %s, %s, %s)",
        (journal_id, kind, intent, hold_id),
    )
    for code, direction, amount in entries:
        conn.execute(
            "INSERT INTO ledger_entries (journal_id, payment_intent_id, account_id, direction, "
            "amount, currency, entry_type) SELECT %s, %s, id, %s, %s, 'usd', 'adjustment' "
            "FROM ledger_accounts WHERE code = %s",
            (journal_id, intent, direction, amount, code),
        )
    return journal_id


Break = Callable[[psycopg.Connection, Books], set[tuple[str, str]]]


def unbalanced_journal(conn: psycopg.Connection, b: Books) -> set[tuple[str, str]]:
    j = post_raw(conn, b.captured, "adjustment", [(b.account_code("payable"), "debit", 100)])
    return {("journal_unbalanced", j), ("payable_mismatch", b.captured)}


def empty_journal(conn: psycopg.Connection, b: Books) -> set[tuple[str, str]]:
    j = post_raw(conn, b.captured, "adjustment", [])
    return {("journal_empty", j)}


def second_hold_on_succeeded(conn: psycopg.Connection, b: Books) -> set[tuple[str, str]]:
    authorizations = f"psp:{b.connector}:usd:authorizations"
    entries = [(authorizations, "debit", 50), (b.account_code("authorized"), "credit", 50)]
    post_raw(conn, b.captured, "authorization", entries, hold_id=new_id("att"))
    return {("unresolved_hold", b.captured)}


def authorized_moved_without_hold(conn: psycopg.Connection, b: Books) -> set[tuple[str, str]]:
    authorizations = f"psp:{b.connector}:usd:authorizations"
    entries = [(b.account_code("authorized"), "debit", 100), (authorizations, "credit", 100)]
    post_raw(conn, b.held, "adjustment", entries)
    return {("authorized_mismatch", b.held)}


def cached_balance_tampered(conn: psycopg.Connection, b: Books) -> set[tuple[str, str]]:
    tampered = conn.execute(
        "UPDATE ledger_account_balances SET credits = credits + 1 WHERE account_id = %(a)s "
        "AND shard = (SELECT min(shard) FROM ledger_account_balances WHERE account_id = %(a)s)",
        {"a": b.payable_account},
    )
    assert tampered.rowcount == 1
    return {("balance_mismatch", f"la_{b.payable_account}")}


BREAKS: list[Break] = [
    unbalanced_journal,
    empty_journal,
    second_hold_on_succeeded,
    authorized_moved_without_hold,
    cached_balance_tampered,
]


@pytest.mark.parametrize("break_books", BREAKS, ids=[b.__name__ for b in BREAKS])
def test_each_break_is_reported(
    tampering: psycopg.Connection, books: Books, break_books: Break
) -> None:
    expected = break_books(tampering, books)
    new_subjects = {subject for _kind, subject in expected}
    assert found(tampering, books, *new_subjects) == expected


# A payment's row, or its refund's or dispute's, changed by hand: (table, change, which payment,
# the kinds reported about that payment, short-named as in KINDS so each fits a line or two).
ROW_CHANGES = {
    "capturable_disagrees": ("payment_intents", "amount_capturable = 400", "held", {"capturable"}),
    "requires_capture_without_hold": (
        "payment_intents",
        "status = 'requires_capture', amount_capturable = 300",
        "canceled",
        {"capturable"},
    ),
    "received_disagrees": ("payment_intents", "amount_received = 700", "captured", {"payable"}),
    "refunded_disagrees": ("payment_intents", "amount_refunded = 300", "captured", {"refunded"}),
    "refund_marked_unbooked": ("refunds", "booked = false", "captured", {"payable"}),
    "dispute_funds_not_withdrawn": ("disputes", "funds_withdrawn = false", "disputed", {"payable"}),
    "succeeded_without_capture": (
        "payment_intents",
        "status = 'succeeded'",
        "canceled",
        {"capture"},
    ),
    "canceled_with_money": (
        "payment_intents",
        "amount_received = 300",
        "canceled",
        {"received", "payable"},
    ),
}
KINDS = {
    "capturable": "capturable_hold_mismatch",
    "payable": "payable_mismatch",
    "refunded": "refunded_mismatch",
    "capture": "succeeded_capture_mismatch",
    "received": "received_without_capture",
}


@pytest.mark.parametrize(
    ("table", "change", "payment", "kinds"), ROW_CHANGES.values(), ids=ROW_CHANGES
)
def test_each_changed_row_is_reported(
    tampering: psycopg.Connection,
    books: Books,
    table: str,
    change: str,
    payment: str,
    kinds: set[str],
) -> None:
    subject = getattr(books, payment)
    column = "id" if table == "payment_intents" else "payment_intent_id"
    statement = sql.SQL("UPDATE {} SET {} WHERE {} = %s").format(
        sql.Identifier(table), sql.SQL(change), sql.Identifier(column)
    )
    assert tampering.execute(statement, (subject,)).rowcount == 1
    assert found(tampering, books) == {(KINDS[kind], subject) for kind in kinds}


def test_breaks_were_rolled_back(owner: psycopg.Connection, books: Books) -> None:
    assert found(owner, books) == set()
