"""The database itself keeps the ledger honest: balance per journal and currency at commit,
append-only for the owner (triggers) and for payplane_app (grants), currency per account,
one resolution per hold, positive amounts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from pg_support import (
    LOCK_TIMEOUT,
    in_uow,
    insert_account,
    insert_attempt,
    insert_intent,
    new_merchant,
)
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict

from payplane.adapters.db.pool import APP_ROLE, login_as
from payplane.adapters.db.uow import PgUnitOfWork
from payplane.domain import ledger
from payplane.domain.ids import new_id
from payplane.domain.ledger import Direction, Entry, EntryType, Hold, Journal, JournalKind
from payplane.domain.money import Money
from payplane.services.ports import RequestContext

INSERT_JOURNAL = "INSERT INTO ledger_journals (id, kind, payment_intent_id) VALUES (%s, %s, %s)"
INSERT_ENTRY = (
    "INSERT INTO ledger_entries (journal_id, payment_intent_id, account_id, direction, amount, "
    "currency, entry_type) VALUES (%s, %s, %s, %s, %s, %s, 'adjustment')"
)


def count(conn: psycopg.Connection, sql: str, *params: object) -> int:
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    n: int = row[0]
    return n


def journal_rows(conn: psycopg.Connection, journal_id: str) -> tuple[int, int]:
    return (
        count(conn, "SELECT count(*) FROM ledger_journals WHERE id = %s", journal_id),
        count(conn, "SELECT count(*) FROM ledger_entries WHERE journal_id = %s", journal_id),
    )


def connect(database_url: str, role: str) -> psycopg.Connection:
    conn = psycopg.connect(database_url)
    conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    if role == "app":
        conn.execute(f"SET ROLE {APP_ROLE}")
    conn.commit()
    return conn


def net_by_currency(entries: list[dict[str, Any]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for e in entries:
        sign = 1 if e["direction"] == "debit" else -1
        totals[e["currency"]] = totals.get(e["currency"], 0) + sign * e["amount"]
    return totals


# (a) balance is checked at commit -------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "app"])
def test_unbalanced_journal_is_refused_at_commit(
    database_url: str, owner: psycopg.Connection, merchant: str, role: str
) -> None:
    intent = insert_intent(owner, merchant)
    debit = insert_account(owner, merchant, "usd", "a")
    credit = insert_account(owner, merchant, "usd", "b")
    journal_id = new_id("jrn")
    with connect(database_url, role) as conn:
        conn.execute(INSERT_JOURNAL, (journal_id, "adjustment", intent))
        conn.execute(INSERT_ENTRY, (journal_id, intent, debit, "debit", 100, "usd"))
        conn.execute(INSERT_ENTRY, (journal_id, intent, credit, "credit", 90, "usd"))
        # The check is deferred: inside the transaction the half-written journal is visible.
        assert journal_rows(conn, journal_id) == (1, 2)
        with pytest.raises(
            errors.CheckViolation,
            match=rf"ledger journal {journal_id} does not balance in usd: debits - credits = 10",
        ):
            conn.commit()
    assert journal_rows(owner, journal_id) == (0, 0)


def test_unbalanced_journal_through_pg_ledger_is_refused_at_commit(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    """PgLedger.post does not check balance itself: the database is the last word."""
    intent = insert_intent(owner, merchant)
    journal = Journal(JournalKind.CAPTURE, intent)
    journal.entries += [
        Entry(
            ledger.merchant_account(merchant, "usd", "x"),
            Direction.DEBIT,
            Money(100, "usd"),
            EntryType.CAPTURE,
        ),
        Entry(
            ledger.merchant_account(merchant, "usd", "y"),
            Direction.CREDIT,
            Money(90, "usd"),
            EntryType.CAPTURE,
        ),
    ]
    assert journal.imbalance() == {"usd": 10}
    with pytest.raises(errors.CheckViolation, match="does not balance in usd"):
        in_uow(database_url, lambda uow: uow.ledger.post(journal))
    assert (
        count(owner, "SELECT count(*) FROM ledger_journals WHERE payment_intent_id = %s", intent)
        == 0
    )
    # The accounts that transaction created went with it.
    assert (
        count(owner, "SELECT count(*) FROM ledger_accounts WHERE merchant_id = %s", merchant) == 0
    )


def test_balance_is_per_journal_not_per_transaction(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    intent = insert_intent(owner, merchant)
    a = insert_account(owner, merchant, "usd", "a")
    b = insert_account(owner, merchant, "usd", "b")
    first, second = new_id("jrn"), new_id("jrn")
    with connect(database_url, "app") as conn:
        conn.execute(INSERT_JOURNAL, (first, "adjustment", intent))
        conn.execute(INSERT_JOURNAL, (second, "adjustment", intent))
        conn.execute(INSERT_ENTRY, (first, intent, a, "debit", 100, "usd"))
        conn.execute(INSERT_ENTRY, (second, intent, b, "credit", 100, "usd"))
        with pytest.raises(errors.CheckViolation, match="does not balance"):
            conn.commit()
    assert journal_rows(owner, first) == (0, 0)
    assert journal_rows(owner, second) == (0, 0)


def test_unbalanced_entry_added_to_a_committed_journal_is_refused(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    intent = insert_intent(owner, merchant)
    journal = Journal(JournalKind.CAPTURE, intent)
    journal.move(
        Money(500, "usd"),
        debit=ledger.merchant_account(merchant, "usd", "a"),
        credit=ledger.merchant_account(merchant, "usd", "b"),
        entry_type=EntryType.ADJUSTMENT,
    )
    journal_id = in_uow(database_url, lambda uow: uow.ledger.post(journal))
    account = insert_account(owner, merchant, "usd", "late")
    with connect(database_url, "app") as conn:
        conn.execute(INSERT_ENTRY, (journal_id, intent, account, "debit", 1, "usd"))
        with pytest.raises(errors.CheckViolation, match=f"{journal_id} does not balance"):
            conn.commit()
    assert journal_rows(owner, journal_id) == (1, 2)


# (b) per currency ------------------------------------------------------------------------------


def test_journal_balanced_in_each_of_two_currencies_is_accepted(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    intent = insert_intent(owner, merchant)
    journal = Journal(JournalKind.CAPTURE, intent)
    for money in (Money(100, "usd"), Money(250, "eur")):
        journal.move(
            money,
            debit=ledger.merchant_account(merchant, money.currency, "fx_in"),
            credit=ledger.merchant_account(merchant, money.currency, "fx_out"),
            entry_type=EntryType.ADJUSTMENT,
        )
    assert journal.imbalance() == {}

    journal_id = in_uow(database_url, lambda uow: uow.ledger.post(journal))

    async def read(uow: PgUnitOfWork) -> list[dict[str, Any]]:
        return await uow.ledger.entries_for(intent)

    entries = in_uow(database_url, read)
    assert len(entries) == 4
    assert {e["journal_id"] for e in entries} == {journal_id}
    assert net_by_currency(entries) == {"usd": 0, "eur": 0}
    assert {(e["account"], e["direction"], e["amount"], e["currency"]) for e in entries} == {
        (f"merchant:{merchant}:usd:fx_in", "debit", 100, "usd"),
        (f"merchant:{merchant}:usd:fx_out", "credit", 100, "usd"),
        (f"merchant:{merchant}:eur:fx_in", "debit", 250, "eur"),
        (f"merchant:{merchant}:eur:fx_out", "credit", 250, "eur"),
    }
    # Each entry sits on an account of its own currency.
    assert (
        count(
            owner,
            "SELECT count(*) FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id "
            "WHERE e.journal_id = %s AND a.currency = e.currency",
            journal_id,
        )
        == 4
    )


def test_journal_balanced_overall_but_not_per_currency_is_refused(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    intent = insert_intent(owner, merchant)
    usd = insert_account(owner, merchant, "usd", "a")
    eur = insert_account(owner, merchant, "eur", "b")
    journal_id = new_id("jrn")
    with connect(database_url, "app") as conn:
        conn.execute(INSERT_JOURNAL, (journal_id, "adjustment", intent))
        conn.execute(INSERT_ENTRY, (journal_id, intent, usd, "debit", 100, "usd"))
        conn.execute(INSERT_ENTRY, (journal_id, intent, eur, "credit", 100, "eur"))
        with pytest.raises(
            errors.CheckViolation, match=rf"{journal_id} does not balance in (usd|eur)"
        ):
            conn.commit()
    assert journal_rows(owner, journal_id) == (0, 0)


# (c) append-only -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def append_only_rows(database_url: str) -> Iterator[dict[str, object]]:
    """One committed row in each append-only table, shared by the refusal cases below."""
    merchant = new_merchant(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        intent = insert_intent(conn, merchant)
    journal = Journal(JournalKind.CAPTURE, intent)
    journal.move(
        Money(700, "usd"),
        debit=ledger.merchant_account(merchant, "usd", "a"),
        credit=ledger.merchant_account(merchant, "usd", "b"),
        entry_type=EntryType.ADJUSTMENT,
    )

    async def write(uow: PgUnitOfWork) -> str:
        journal_id = await uow.ledger.post(journal)
        ctx = RequestContext(merchant, "test", new_id("req"))
        await uow.audit.record(ctx, "test.append_only", object_type="journal", object_id=intent)
        return journal_id

    journal_id = in_uow(database_url, write)
    with psycopg.connect(database_url) as conn:
        entry_id = count(
            conn, "SELECT min(id) FROM ledger_entries WHERE journal_id = %s", journal_id
        )
        audit_id = count(conn, "SELECT id FROM audit_log WHERE object_id = %s", intent)
    yield {"ledger_journals": journal_id, "ledger_entries": entry_id, "audit_log": audit_id}
    with psycopg.connect(database_url) as conn:
        assert count(conn, "SELECT count(*) FROM ledger_journals WHERE id = %s", journal_id) == 1
        assert (
            count(conn, "SELECT count(*) FROM ledger_entries WHERE journal_id = %s", journal_id)
            == 2
        )
        assert count(conn, "SELECT count(*) FROM audit_log WHERE id = %s", audit_id) == 1
        assert count(conn, "SELECT amount FROM ledger_entries WHERE id = %s", entry_id) == 700


TOUCH = {
    "ledger_journals": "kind",
    "ledger_entries": "amount",
    "audit_log": "action",
}
EXPECTED = {
    "owner": r"is append-only: {op} refused",
    "app": r"permission denied for table {table}",
}


@pytest.mark.parametrize("role", ["owner", "app"])
@pytest.mark.parametrize("op", ["UPDATE", "DELETE", "TRUNCATE"])
@pytest.mark.parametrize("table", ["ledger_journals", "ledger_entries", "audit_log"])
def test_append_only_tables_refuse_changes(
    database_url: str, append_only_rows: dict[str, object], table: str, op: str, role: str
) -> None:
    row_id = append_only_rows[table]
    column = TOUCH[table]
    statement = {
        "UPDATE": f"UPDATE {table} SET {column} = {column} WHERE id = %s",  # noqa: S608
        "DELETE": f"DELETE FROM {table} WHERE id = %s",  # noqa: S608
        # CASCADE: ledger_journals is referenced by ledger_entries, and a plain TRUNCATE would be
        # refused by that foreign key before any trigger ran.
        "TRUNCATE": f"TRUNCATE {table} CASCADE",
    }[op]
    params = () if op == "TRUNCATE" else (row_id,)
    with connect(database_url, role) as conn:
        try:
            with pytest.raises(
                errors.InsufficientPrivilege,
                match=EXPECTED[role].format(op=op, table=table),
            ):
                conn.execute(statement, params)  # type: ignore[arg-type]
        finally:
            conn.rollback()  # whatever happened, never let it commit


def test_the_app_login_cannot_become_the_owner(
    database_url: str, append_only_rows: dict[str, object]
) -> None:
    """What the api and worker log in as: RESET ROLE gives payplane_app back, not the owner."""
    owner = conninfo_to_dict(database_url)["user"]
    with psycopg.connect(login_as(database_url, APP_ROLE)) as conn:
        try:
            conn.execute("RESET ROLE")
            assert conn.execute("SELECT session_user, current_user").fetchone() == (
                APP_ROLE,
                APP_ROLE,
            )
            with pytest.raises(errors.InsufficientPrivilege, match="permission denied for table"):
                conn.execute(
                    "UPDATE ledger_entries SET amount = amount WHERE id = %s",
                    (append_only_rows["ledger_entries"],),
                )
            conn.rollback()
            with pytest.raises(errors.InsufficientPrivilege, match="permission denied to set role"):
                conn.execute(f'SET ROLE "{owner}"')
        finally:
            conn.rollback()


# (d) currency of an entry is its account's ------------------------------------------------------


def test_entry_in_another_currency_than_its_account_is_refused(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    intent = insert_intent(owner, merchant)
    usd_a = insert_account(owner, merchant, "usd", "a")
    usd_b = insert_account(owner, merchant, "usd", "b")
    journal_id = new_id("jrn")
    with connect(database_url, "app") as conn:
        conn.execute(INSERT_JOURNAL, (journal_id, "adjustment", intent))
        # Balanced in eur - but both accounts are usd accounts.
        with pytest.raises(errors.ForeignKeyViolation, match="ledger_entries"):
            conn.execute(INSERT_ENTRY, (journal_id, intent, usd_a, "debit", 100, "eur"))
        conn.rollback()
        conn.execute(INSERT_JOURNAL, (journal_id, "adjustment", intent))
        conn.execute(INSERT_ENTRY, (journal_id, intent, usd_a, "debit", 100, "usd"))
        with pytest.raises(errors.ForeignKeyViolation):
            conn.execute(INSERT_ENTRY, (journal_id, intent, usd_b, "credit", 100, "eur"))
        conn.rollback()
    assert journal_rows(owner, journal_id) == (0, 0)


# (e) a hold is resolved once -------------------------------------------------------------------


def test_a_hold_is_resolved_at_most_once(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    intent = insert_intent(owner, merchant, amount=1000, status="requires_capture")
    attempt = insert_attempt(owner, intent, merchant, status="succeeded")
    hold = Hold(attempt, merchant, "simulator", Money(1000, "usd"))
    in_uow(database_url, lambda uow: uow.ledger.post(ledger.authorization(hold, intent)))

    async def open_hold(uow: PgUnitOfWork) -> Hold | None:
        return await uow.ledger.open_hold(intent)

    assert in_uow(database_url, open_hold) == hold
    # A partial capture resolves the hold (and so releases the rest of it).
    capture = ledger.capture(hold, intent, Money(600, "usd"))
    capture_id = in_uow(database_url, lambda uow: uow.ledger.post(capture))
    assert in_uow(database_url, open_hold) is None

    # A second resolution through the adapter...
    with pytest.raises(errors.UniqueViolation, match="resolves_hold_id"):
        in_uow(database_url, lambda uow: uow.ledger.post(ledger.void(hold, intent)))
    with pytest.raises(errors.UniqueViolation, match="resolves_hold_id"):
        in_uow(
            database_url,
            lambda uow: uow.ledger.post(ledger.void(hold, intent, kind=JournalKind.EXPIRY)),
        )
    # ...and in raw SQL, as payplane_app.
    with connect(database_url, "app") as conn:
        with pytest.raises(errors.UniqueViolation, match="resolves_hold_id"):
            conn.execute(
                "INSERT INTO ledger_journals (id, kind, payment_intent_id, resolves_hold_id) "
                "VALUES (%s, 'void', %s, %s)",
                (new_id("jrn"), intent, attempt),
            )
        conn.rollback()
        # A hold is opened once too, and only an existing hold can be resolved.
        with pytest.raises(errors.UniqueViolation, match="hold_id"):
            conn.execute(
                "INSERT INTO ledger_journals (id, kind, payment_intent_id, hold_id) "
                "VALUES (%s, 'authorization', %s, %s)",
                (new_id("jrn"), intent, attempt),
            )
        conn.rollback()
        with pytest.raises(errors.ForeignKeyViolation, match="resolves_hold_id"):
            conn.execute(
                "INSERT INTO ledger_journals (id, kind, payment_intent_id, resolves_hold_id) "
                "VALUES (%s, 'void', %s, %s)",
                (new_id("jrn"), intent, new_id("att")),
            )
        conn.rollback()

    rows = owner.execute(
        "SELECT j.id, j.kind, a.code, e.direction, e.amount FROM ledger_entries e "
        "JOIN ledger_journals j ON j.id = e.journal_id "
        "JOIN ledger_accounts a ON a.id = e.account_id "
        "WHERE e.payment_intent_id = %s ORDER BY e.id",
        (intent,),
    ).fetchall()
    assert [r[1] for r in rows] == ["authorization"] * 2 + ["capture"] * 4
    assert {r[0] for r in rows if r[1] == "capture"} == {capture_id}
    balances: dict[str, int] = {}
    for _jid, _kind, code, direction, amount in rows:
        balances[code] = balances.get(code, 0) + (amount if direction == "debit" else -amount)
    assert balances == {
        "psp:simulator:usd:authorizations": 0,
        f"merchant:{merchant}:usd:authorized": 0,
        "psp:simulator:usd:receivable": 600,
        f"merchant:{merchant}:usd:payable": -600,
    }


# (f) amounts are positive ----------------------------------------------------------------------


@pytest.mark.parametrize("amount", [0, -1, -100])
def test_non_positive_amount_is_refused(
    database_url: str, owner: psycopg.Connection, merchant: str, amount: int
) -> None:
    intent = insert_intent(owner, merchant)
    a = insert_account(owner, merchant, "usd", "a")
    b = insert_account(owner, merchant, "usd", "b")
    journal_id = new_id("jrn")
    with connect(database_url, "app") as conn:
        conn.execute(INSERT_JOURNAL, (journal_id, "adjustment", intent))
        # Each row is refused on its own, whatever the other side of the journal would be.
        for account, direction in ((a, "debit"), (b, "credit")):
            with pytest.raises(errors.CheckViolation, match="ledger_entries_amount_check"):
                conn.execute(INSERT_ENTRY, (journal_id, intent, account, direction, amount, "usd"))
            conn.rollback()
            conn.execute(INSERT_JOURNAL, (journal_id, "adjustment", intent))
        conn.rollback()
    assert journal_rows(owner, journal_id) == (0, 0)


def test_a_journal_without_entries_is_refused_at_commit(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    intent = insert_intent(owner, merchant)
    journal_id = new_id("jrn")
    with connect(database_url, "app") as conn:
        conn.execute(INSERT_JOURNAL, (journal_id, "adjustment", intent))
        with pytest.raises(errors.CheckViolation, match="has no entries"):
            conn.commit()
    assert journal_rows(owner, journal_id) == (0, 0)
