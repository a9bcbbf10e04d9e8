"""Reconciliation postings: a batch's totals become one balanced journal with each figure on
its account and side; suspense leaves only by new, balanced journals; the remediation lifecycle
and the accounts an operator may book to."""

from __future__ import annotations

import pytest

from payplane.domain import ledger
from payplane.domain.errors import InvalidRequest, UnexpectedState
from payplane.domain.ledger import Balance, Direction, JournalKind, SettlementTotals
from payplane.domain.remediation import Action, ItemStatus, after, target_account


def _sides(journal: ledger.Journal) -> dict[str, int]:
    """Debits minus credits per account."""
    sides: dict[str, int] = {}
    for e in journal.entries:
        sign = 1 if e.direction is Direction.DEBIT else -1
        sides[e.account] = sides.get(e.account, 0) + sign * e.money.amount
    return sides


def test_a_batch_settles_receivables_into_clearing_with_fees_and_breaks() -> None:
    # A 1000 capture settled with 42 commission (39 expected), a 500 one settled 3 short
    # (amount mismatch), and a payout 10 short of the lines.
    totals = SettlementTotals(
        source="sim",
        currency="usd",
        clearing=(1000 - 42) + (497 - 32) - 10,
        fees=39 + 32,
        fee_variance=3,
        receivable={"simulator": -1000, "sim_wallet": -500},
        suspense={"amount_mismatch": 3, "payout_mismatch": 10},
    )

    journal = ledger.settlement(totals)

    assert journal.kind is JournalKind.SETTLEMENT
    assert journal.payment_intent_id is None
    assert journal.imbalance() == {}
    assert _sides(journal) == {
        "psp:sim:usd:clearing": 1413,
        "psp:sim:usd:fees": 71,
        "psp:sim:usd:fee_variance": 3,
        "psp:simulator:usd:receivable": -1000,
        "psp:sim_wallet:usd:receivable": -500,
        "suspense:sim:usd:amount_mismatch": 3,
        "suspense:sim:usd:payout_mismatch": 10,
    }


def test_zero_figures_book_nothing() -> None:
    journal = ledger.settlement(
        SettlementTotals("sim", "eur", receivable={"simulator": 0}, suspense={"x": 0})
    )
    assert journal.entries == []


def test_totals_that_do_not_balance_are_refused() -> None:
    with pytest.raises(ValueError, match="does not balance"):
        ledger.settlement(SettlementTotals("sim", "usd", clearing=100, fees=1))


def test_missing_movements_move_from_the_receivable_to_suspense() -> None:
    journal = ledger.settlement(
        SettlementTotals(
            "sim",
            "jpy",
            receivable={"simulator": -1200},
            suspense={"missing_in_report": 1200},
        ),
        kind=JournalKind.MISSING_IN_REPORT,
    )
    assert journal.kind is JournalKind.MISSING_IN_REPORT
    assert _sides(journal) == {
        "psp:simulator:jpy:receivable": -1200,
        "suspense:sim:jpy:missing_in_report": 1200,
    }


def test_suspense_is_cleared_to_a_target_in_each_currency() -> None:
    held = [
        Balance("suspense:sim:eur:currency_mismatch", "eur", -1000),
        Balance("suspense:sim:usd:currency_mismatch", "usd", 1000),
    ]

    journal = ledger.clear_suspense(JournalKind.WRITE_OFF, held, ledger.write_off_account)

    assert journal.imbalance() == {}
    assert _sides(journal) == {
        "suspense:sim:eur:currency_mismatch": 1000,
        "platform:reconciliation:eur:write_offs": -1000,
        "suspense:sim:usd:currency_mismatch": -1000,
        "platform:reconciliation:usd:write_offs": 1000,
    }


def test_a_reversal_undoes_what_was_posted() -> None:
    posted = [
        Balance("psp:sim:usd:clearing", "usd", 958),
        Balance("psp:sim:usd:fees", "usd", 42),
        Balance("psp:simulator:usd:receivable", "usd", -1000),
    ]
    journal = ledger.reversal(JournalKind.SETTLEMENT_REVERSAL, posted)
    assert _sides(journal) == {b.account: -b.net for b in posted}
    with pytest.raises(ValueError, match="does not balance"):
        ledger.reversal(JournalKind.SETTLEMENT_REVERSAL, posted[:2])


@pytest.mark.parametrize(
    ("action", "before", "after_status"),
    [
        (Action.ASSIGN, ItemStatus.OPEN, ItemStatus.OPEN),
        (Action.ASSIGN, ItemStatus.IN_REVIEW, ItemStatus.IN_REVIEW),
        (Action.NOTE, ItemStatus.WRITTEN_OFF, ItemStatus.WRITTEN_OFF),
        (Action.NOTE, ItemStatus.AUTO_RESOLVED, ItemStatus.AUTO_RESOLVED),
        (Action.REVIEW, ItemStatus.OPEN, ItemStatus.IN_REVIEW),
        (Action.RESOLVE, ItemStatus.OPEN, ItemStatus.RESOLVED),
        (Action.RESOLVE, ItemStatus.IN_REVIEW, ItemStatus.RESOLVED),
        (Action.WRITE_OFF, ItemStatus.IN_REVIEW, ItemStatus.WRITTEN_OFF),
    ],
)
def test_the_lifecycle_allows(action: Action, before: ItemStatus, after_status: ItemStatus) -> None:
    assert after(action, before) is after_status


@pytest.mark.parametrize("final", [s for s in ItemStatus if s.is_final])
@pytest.mark.parametrize("action", [Action.ASSIGN, Action.REVIEW, Action.RESOLVE, Action.WRITE_OFF])
def test_a_closed_item_takes_nothing_but_notes(final: ItemStatus, action: Action) -> None:
    with pytest.raises(UnexpectedState, match=f"status of {final.value}"):
        after(action, final)


def test_review_starts_from_open_only() -> None:
    with pytest.raises(UnexpectedState, match="following statuses may be: open"):
        after(Action.REVIEW, ItemStatus.IN_REVIEW)


def test_an_operator_books_to_psp_platform_or_suspense_accounts_only() -> None:
    assert target_account("platform:adjustments:bank_fees", "usd") == (
        "platform:adjustments:usd:bank_fees"
    )
    assert target_account("psp:simulator:receivable", "eur") == "psp:simulator:eur:receivable"
    for bad in ("merchant:acct_1:payable", "platform:adjustments", "platform:a:usd:b", "PSP:x:y"):
        with pytest.raises(InvalidRequest) as raised:
            target_account(bad, "usd")
        assert raised.value.param == "account"
