"""Double-entry journals for authorization holds, captures, voids and expiries."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payplane.domain import ledger
from payplane.domain.ledger import Direction, EntryType, Hold, Journal, JournalKind
from payplane.domain.money import MAX_AMOUNT, Money

MERCHANT = "mer_1"
CONNECTOR = "sim"
AUTHORIZED = f"merchant:{MERCHANT}:usd:authorized"
AUTHORIZATIONS = f"psp:{CONNECTOR}:usd:authorizations"
PAYABLE = f"merchant:{MERCHANT}:usd:payable"
RECEIVABLE = f"psp:{CONNECTOR}:usd:receivable"


def hold(amount: int = 5000, currency: str = "usd", hold_id: str = "att_1") -> Hold:
    return Hold(hold_id, MERCHANT, CONNECTOR, Money(amount, currency))


def net(journal: Journal) -> dict[str, int]:
    """Per account: credits minus debits (what the account gained from the journal)."""
    totals: dict[str, int] = defaultdict(int)
    for entry in journal.entries:
        sign = 1 if entry.direction is Direction.CREDIT else -1
        totals[entry.account] += sign * entry.money.amount
    return dict(totals)


def debits(journal: Journal, account: str) -> int:
    return sum(
        e.money.amount
        for e in journal.entries
        if e.account == account and e.direction is Direction.DEBIT
    )


def credits(journal: Journal, account: str) -> int:
    return sum(
        e.money.amount
        for e in journal.entries
        if e.account == account and e.direction is Direction.CREDIT
    )


def test_account_codes() -> None:
    assert ledger.merchant_account("m", "eur", "payable") == "merchant:m:eur:payable"
    assert ledger.psp_account("p", "eur", "receivable") == "psp:p:eur:receivable"


def test_authorization_is_a_balanced_hold() -> None:
    journal = ledger.authorization(hold(5000), "pi_1")
    assert journal.kind is JournalKind.AUTHORIZATION
    assert journal.payment_intent_id == "pi_1"
    assert journal.hold_id == "att_1"
    assert journal.resolves_hold_id is None
    assert journal.imbalance() == {}
    assert {e.entry_type for e in journal.entries} == {EntryType.AUTH}
    # The amount leaves the PSP's authorizations account into the merchant's authorized one.
    assert credits(journal, AUTHORIZED) == 5000
    assert debits(journal, AUTHORIZATIONS) == 5000
    assert len(journal.entries) == 2


def test_full_capture_balances_and_resolves_the_hold() -> None:
    journal = ledger.capture(hold(5000), "pi_1", Money(5000, "usd"))
    assert journal.kind is JournalKind.CAPTURE
    assert journal.imbalance() == {}
    assert journal.resolves_hold_id == "att_1"
    assert journal.hold_id is None
    assert debits(journal, AUTHORIZED) == 5000
    assert credits(journal, PAYABLE) == 5000
    assert debits(journal, RECEIVABLE) == 5000


def test_partial_capture_releases_the_whole_hold_and_books_only_the_capture() -> None:
    journal = ledger.capture(hold(5000), "pi_1", Money(1200, "usd"))
    assert journal.imbalance() == {}
    assert net(journal) == {
        AUTHORIZED: -5000,
        AUTHORIZATIONS: 5000,
        PAYABLE: 1200,
        RECEIVABLE: -1200,
    }
    capture_entries = [e for e in journal.entries if e.entry_type is EntryType.CAPTURE]
    assert {e.money for e in capture_entries} == {Money(1200, "usd")}


@pytest.mark.parametrize("kind", [JournalKind.VOID, JournalKind.EXPIRY])
def test_void_and_expiry_release_the_hold_and_book_nothing_payable(kind: JournalKind) -> None:
    journal = ledger.void(hold(5000), "pi_1", kind=kind)
    assert journal.kind is kind
    assert journal.imbalance() == {}
    assert journal.resolves_hold_id == "att_1"
    assert net(journal) == {AUTHORIZED: -5000, AUTHORIZATIONS: 5000}


def test_authorization_then_void_nets_to_zero_everywhere() -> None:
    h = hold(777)
    combined = Journal(JournalKind.VOID, "pi_1")
    combined.entries = ledger.authorization(h, "pi_1").entries + ledger.void(h, "pi_1").entries
    assert set(net(combined).values()) == {0}


@pytest.mark.parametrize(
    "captured",
    [Money(5001, "usd"), Money(0, "usd"), Money(-1, "usd"), Money(5000, "eur")],
)
def test_capture_outside_the_hold_is_refused(captured: Money) -> None:
    with pytest.raises(ValueError, match="capture"):
        ledger.capture(hold(5000, "usd"), "pi_1", captured)


@pytest.mark.parametrize("amount", [0, -5])
def test_a_movement_must_be_positive(amount: int) -> None:
    journal = Journal(JournalKind.CAPTURE, "pi_1")
    with pytest.raises(ValueError, match="positive"):
        journal.move(Money(amount, "usd"), debit="a", credit="b", entry_type=EntryType.CAPTURE)
    assert journal.entries == []


def test_imbalance_reports_per_currency() -> None:
    journal = Journal(JournalKind.CAPTURE, "pi_1")
    journal.entries.append(
        ledger.Entry("a", Direction.DEBIT, Money(100, "usd"), EntryType.ADJUSTMENT)
    )
    journal.entries.append(
        ledger.Entry("b", Direction.CREDIT, Money(30, "usd"), EntryType.ADJUSTMENT)
    )
    journal.entries.append(
        ledger.Entry("c", Direction.CREDIT, Money(5, "jpy"), EntryType.ADJUSTMENT)
    )
    assert journal.imbalance() == {"usd": 70, "jpy": -5}
    # Balancing one currency with another does not count.
    journal.entries.append(
        ledger.Entry("d", Direction.CREDIT, Money(70, "eur"), EntryType.ADJUSTMENT)
    )
    assert journal.imbalance() == {"usd": 70, "jpy": -5, "eur": -70}


CURRENCIES = st.sampled_from(["usd", "jpy", "kwd", "eur", "clf"])


@st.composite
def hold_and_capture(draw: st.DrawFn) -> tuple[Hold, Money]:
    currency = draw(CURRENCIES)
    amount = draw(st.integers(1, MAX_AMOUNT))
    captured = draw(st.integers(1, amount))
    return Hold("att_h", "mer_h", "psp_h", Money(amount, currency)), Money(captured, currency)


@settings(max_examples=200)
@given(case=hold_and_capture())
def test_every_capture_balances_and_books_exactly_the_captured_amount(
    case: tuple[Hold, Money],
) -> None:
    h, captured = case
    cur = h.money.currency
    journal = ledger.capture(h, "pi_h", captured)
    assert journal.imbalance() == {}
    assert journal.resolves_hold_id == h.id
    gained = net(journal)
    assert gained[f"merchant:mer_h:{cur}:payable"] == captured.amount
    assert gained[f"psp:psp_h:{cur}:receivable"] == -captured.amount
    assert gained[f"merchant:mer_h:{cur}:authorized"] == -h.money.amount
    assert gained[f"psp:psp_h:{cur}:authorizations"] == h.money.amount
    # Nothing else is touched, and every entry is in the hold's currency.
    assert len(gained) == 4
    assert {e.money.currency for e in journal.entries} == {cur}
    # The hold opened by authorization() is exactly what the capture releases.
    opened = net(ledger.authorization(h, "pi_h"))
    for account, amount in opened.items():
        assert gained[account] == -amount


@settings(max_examples=100)
@given(amount=st.integers(1, MAX_AMOUNT), excess=st.integers(1, 10**6), currency=CURRENCIES)
def test_capture_above_the_hold_is_always_refused(amount: int, excess: int, currency: str) -> None:
    with pytest.raises(ValueError, match="capture"):
        ledger.capture(
            Hold("att", "m", "p", Money(amount, currency)), "pi", Money(amount + excess, currency)
        )


@settings(max_examples=100)
@given(amount=st.integers(1, MAX_AMOUNT), currency=CURRENCIES)
def test_void_always_balances_and_resolves_the_hold(amount: int, currency: str) -> None:
    h = Hold("att_v", "m", "p", Money(amount, currency))
    journal = ledger.void(h, "pi_v")
    assert journal.imbalance() == {}
    assert journal.resolves_hold_id == "att_v"
    assert net(journal)[f"merchant:m:{currency}:authorized"] == -amount
