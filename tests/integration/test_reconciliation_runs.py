"""Reconciliation runs on a real PostgreSQL: crafted reports against crafted books. Each break
type is found and classified, the journals balance, each suspense account holds exactly what
the open items say, reruns post nothing, dry runs leave nothing behind."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import psycopg
import pytest
from recon_support import TODAY, Books, Line, breaks_by_type, card_fee, counts, report

from payplane.domain.attempt import AttemptStatus
from payplane.domain.refund import RefundStatus
from payplane.domain.settlement import MalformedReport, SettlementReportChanged
from payplane.services import orchestrator
from payplane.services.ports import ListQuery, PspOutcome, PspResult, RequestContext


def _suspense_matches_open_items(books: Books) -> None:
    """Each suspense account's balance is the sum of its open items' nets."""
    with psycopg.connect(books.database_url) as conn:
        rows = conn.execute(
            "SELECT 'suspense:' || source || ':' || s.currency || ':' || i.type, sum(s.net) "
            "FROM remediation_items i, jsonb_to_recordset(i.suspense) s(currency text, net bigint) "
            "WHERE i.source = %s AND i.status IN ('open', 'in_review') GROUP BY 1",
            (books.connector,),
        ).fetchall()
    open_amounts = {code: net for code, net in rows if net}
    suspense = {code: net for code, net in books.balances().items() if code.startswith("susp")}
    assert suspense == open_amounts


def test_a_clean_day_has_no_breaks_and_settles_the_receivable(database_url: str) -> None:
    books = Books(database_url)
    a, b, c, d = (
        books.capture(1000),
        books.capture(2550),
        books.capture(99_999_999),
        books.capture(700),
    )
    psr = books.refund(a, 400, RefundStatus.SUCCEEDED)
    psd = books.chargeback(b, fee=1500)
    won = books.chargeback(d, fee=1500, won=True)
    books.reports.by_day[TODAY] = report(
        [
            Line("Settled", a.psp_reference, a.intent, a.psp_reference, 1000),
            Line("Settled", b.psp_reference, b.intent, b.psp_reference, 2550),
            Line("Settled", c.psp_reference, c.intent, c.psp_reference, 99_999_999),
            Line("Settled", d.psp_reference, d.intent, d.psp_reference, 700, payment_method="mc"),
            Line("Refunded", a.psp_reference, a.intent, psr, 400),
            Line("Chargeback", b.psp_reference, b.intent, psd, 2550),
            Line("Fee", b.psp_reference, b.intent, psd, 1500),
            Line("Chargeback", d.psp_reference, d.intent, won, 700),
            Line("Fee", d.psp_reference, d.intent, won, 1500),
            Line("ChargebackReversed", d.psp_reference, d.intent, won, 700),
        ]
    )

    outcome = books.reconcile()

    assert outcome.breaks == []
    summary = outcome.run["summary"]
    assert summary["matched"] == {
        "count": 10,
        "amounts": {"usd": 1000 + 2550 + 99_999_999 + 700 + 400 + 2550 + 1500 + 2 * 700 + 1500},
    }
    fees = card_fee(1000) + card_fee(2550) + card_fee(99_999_999) + card_fee(700)
    net = 1000 + 2550 + 99_999_999 + 700 - fees - 400 - 2550 - 1500 - 1500
    (batch,) = summary["batches"]
    assert (batch["net"], batch["payout"], batch["clearing"]) == (net, net, net)
    # The receivable is settled to nothing; clearing holds the payout; fees at the schedule.
    assert books.balances() == {
        f"psp:{books.connector}:usd:clearing": net,
        f"psp:{books.connector}:usd:fees": fees,
    }
    assert books.violations() == []


def test_every_break_type_is_found_classified_and_held_in_suspense(database_url: str) -> None:
    books = Books(database_url)
    matched, short, foreign, twice = (books.capture(1000) for _ in range(4))
    canceled = books.canceled(700)
    unreported = books.capture(1234)
    disputed = books.capture(5000)
    failed_refund = books.refund(disputed, 300, RefundStatus.FAILED)
    books.reports.by_day[TODAY] = report(
        [
            Line("Settled", matched.psp_reference, matched.intent, matched.psp_reference, 1000),
            Line("Settled", short.psp_reference, short.intent, short.psp_reference, 1003),
            Line(
                "Settled", foreign.psp_reference, foreign.intent, foreign.psp_reference, 1000,
                currency="eur",
            ),
            Line("Settled", twice.psp_reference, twice.intent, twice.psp_reference, 1000),
            Line("Settled", twice.psp_reference, twice.intent, twice.psp_reference, 1000),
            Line("Settled", "psp_nobody", "unknown", "psp_nobody", 4200),
            Line("Settled", canceled.psp_reference, canceled.intent, canceled.psp_reference, 700),
            Line("Settled", disputed.psp_reference, disputed.intent, disputed.psp_reference, 5000),
            Line("Refunded", disputed.psp_reference, disputed.intent, failed_refund, 300),
            Line("Chargeback", disputed.psp_reference, disputed.intent, "psd_unannounced", 5000),
        ],
        payouts={(1, "usd"): 1},  # far from the lines' sum
    )  # fmt: skip

    outcome = books.reconcile()

    found = breaks_by_type(outcome)
    assert {kind: len(items) for kind, items in found.items()} == {
        "amount_mismatch": 1,
        "currency_mismatch": 1,
        "duplicate_in_report": 1,
        "missing_internally": 1,
        "status_mismatch": 2,
        "unexpected_chargeback": 1,
        "payout_mismatch": 1,
        "missing_in_report": 1,
    }
    assert found["amount_mismatch"][0]["payment_intent"] == short.intent
    assert found["amount_mismatch"][0]["suspense"][0]["net"] == -3  # the PSP paid 3 more
    assert found["currency_mismatch"][0]["payment_intent"] == foreign.intent
    assert {(leg["currency"], leg["net"]) for leg in found["currency_mismatch"][0]["suspense"]} == {
        ("eur", -1000),
        ("usd", 1000),
    }
    (duplicate,) = found["duplicate_in_report"]
    assert duplicate["payment_intent"] == twice.intent
    assert duplicate["proposal"] == {
        "action": "refund",
        "payment_intent": twice.intent,
        "amount": 1000,
        "currency": "usd",
        "status": "needs_approval",
    }
    (unknown,) = found["missing_internally"]
    assert (unknown["payment_intent"], unknown["amount"]) == (None, 4200)
    assert {item["payment_intent"] for item in found["status_mismatch"]} == {
        canceled.intent,
        disputed.intent,
    }
    assert found["unexpected_chargeback"][0]["line"]["modification_reference"] == "psd_unannounced"
    (missing,) = found["missing_in_report"]
    assert (missing["payment_intent"], missing["expected_amount"]) == (unreported.intent, 1234)
    (payout,) = found["payout_mismatch"]
    assert (payout["currency"], payout["amount"]) == ("usd", 1)
    assert payout["suspense"][0]["net"] == payout["expected_amount"] - 1
    assert all(item["status"] == "open" for item in outcome.breaks)
    _suspense_matches_open_items(books)
    # The matched capture, the short one and the foreign one's Payplane side left the
    # receivable; the unreported capture moved to suspense.
    assert f"psp:{books.connector}:usd:receivable" not in books.balances()
    assert books.violations() == []


def test_the_same_report_again_posts_nothing(database_url: str) -> None:
    books = Books(database_url)
    a = books.capture(1000)
    books.capture(500)  # missing from the report
    books.reports.by_day[TODAY] = report(
        [Line("Settled", a.psp_reference, a.intent, a.psp_reference, 1000)]
    )
    first = books.reconcile()
    before = counts(database_url)

    again = books.reconcile()

    assert again.replayed
    assert not first.replayed
    assert again.run == first.run
    assert [i["id"] for i in again.breaks] == [i["id"] for i in first.breaks]
    assert counts(database_url) == before


def test_a_dry_run_computes_the_same_and_leaves_nothing(database_url: str) -> None:
    books = Books(database_url)
    a = books.capture(1000)
    books.capture(500)
    books.reports.by_day[TODAY] = report(
        [Line("Settled", a.psp_reference, a.intent, a.psp_reference, 1001)]
    )
    before = counts(database_url)

    dry = books.reconcile(dry_run=True)

    assert counts(database_url) == before
    real = books.reconcile()
    assert dry.dry_run
    assert not real.dry_run
    assert dry.run["summary"]["breaks"] == real.run["summary"]["breaks"]
    assert dry.run["summary"]["matched"] == real.run["summary"]["matched"]
    assert sorted(i["type"] for i in dry.breaks) == ["amount_mismatch", "missing_in_report"]


def test_a_timing_break_is_auto_resolved_when_a_later_report_settles_it(
    database_url: str,
) -> None:
    books = Books(database_url)
    late = books.capture(1000)
    books.reports.by_day[TODAY] = report([])
    (flagged,) = books.reconcile().breaks
    assert flagged["type"] == "missing_in_report"
    _suspense_matches_open_items(books)
    tomorrow = TODAY + timedelta(days=1)
    books.reports.by_day[tomorrow] = report(
        [Line("Settled", late.psp_reference, late.intent, late.psp_reference, 1000)]
    )

    second = books.reconcile(tomorrow)

    assert second.breaks == []
    assert second.run["summary"]["timing_resolved"] == 1
    item = books.with_service(lambda s: s._remediation.retrieve(flagged["id"]))
    assert item["status"] == "auto_resolved"
    assert "timing difference" in item["explanation"]
    assert [j["purpose"] for j in item["journals"]] == ["opened", "resolved"]
    assert not any(code.startswith("suspense") for code in books.balances())
    assert f"psp:{books.connector}:usd:receivable" not in books.balances()
    assert books.violations() == []


def test_a_capture_the_psp_confirms_is_recorded_through_the_normal_path(
    database_url: str,
) -> None:
    books = Books(database_url)
    payment, attempt = books.in_doubt(2000)
    books.psp.lookups[attempt.psp_idempotency_key] = PspResult(
        PspOutcome.SUCCEEDED, psp_reference="psp_confirmed"
    )
    books.reports.by_day[TODAY] = report(
        [Line("Settled", "psp_confirmed", payment.intent, "psp_confirmed", 2000)]
    )

    outcome = books.reconcile()

    (item,) = outcome.breaks
    assert (item["type"], item["status"]) == ("missing_internally", "auto_resolved")
    assert "confirmed the capture" in item["explanation"]
    with psycopg.connect(database_url) as conn:
        status, received = conn.execute(
            "SELECT status, amount_received FROM payment_intents WHERE id = %s",
            (payment.intent,),
        ).fetchone()  # type: ignore[misc]
        attempt_status, psp = conn.execute(
            "SELECT status, psp_reference FROM payment_attempts WHERE id = %s", (attempt.id,)
        ).fetchone()  # type: ignore[misc]
    assert (status, received) == ("succeeded", 2000)
    assert (attempt_status, psp) == (AttemptStatus.SUCCEEDED.value, "psp_confirmed")
    assert not any(code.startswith("suspense") for code in books.balances())
    assert f"psp:{books.connector}:usd:receivable" not in books.balances()
    assert books.violations() == []
    # Tomorrow the capture is not "missing from the report": this line settled it.
    books.reports.by_day[TODAY + timedelta(days=1)] = report([])
    assert books.reconcile(TODAY + timedelta(days=1)).breaks == []


def test_a_changed_report_is_refused_unless_the_run_is_superseded(database_url: str) -> None:
    books = Books(database_url)
    a, b = books.capture(1000), books.capture(2000)
    books.reports.by_day[TODAY] = report(
        [Line("Settled", a.psp_reference, a.intent, a.psp_reference, 1007)]
    )
    first = books.reconcile()
    assert sorted(i["type"] for i in first.breaks) == ["amount_mismatch", "missing_in_report"]
    corrected = report(
        [
            Line("Settled", a.psp_reference, a.intent, a.psp_reference, 1000),
            Line("Settled", b.psp_reference, b.intent, b.psp_reference, 2000),
        ]
    )
    books.reports.by_day[TODAY] = corrected

    with pytest.raises(SettlementReportChanged, match="changed since run"):
        books.reconcile()
    second = books.reconcile(supersede=True)

    assert second.breaks == []
    assert second.run["supersedes"] == first.run["id"]
    old = books.with_service(lambda s: s.retrieve(first.run["id"]))
    assert (old["status"], old["superseded_by"]) == ("superseded", second.run["id"])
    assert old["items"] == {"auto_resolved": 2}
    # As if only the corrected report had ever been reconciled.
    fees = card_fee(1000) + card_fee(2000)
    assert books.balances() == {
        f"psp:{books.connector}:usd:clearing": 3000 - fees,
        f"psp:{books.connector}:usd:fees": fees,
    }
    assert books.violations() == []


def test_a_malformed_report_fails_the_run_and_stores_nothing(database_url: str) -> None:
    books = Books(database_url)
    a = books.capture(1000)
    good = report([Line("Settled", a.psp_reference, a.intent, a.psp_reference, 1000)])
    books.reports.by_day[TODAY] = good.replace(b"10.00", b"10.001", 1)
    before = counts(database_url)

    with pytest.raises(MalformedReport) as raised:
        books.reconcile()

    assert (raised.value.line, raised.value.column) == (2, "Gross Credit (GC)")
    assert "3 decimals; USD has 2" in raised.value.message
    assert counts(database_url) == before


def test_the_commission_beyond_the_schedule_is_fee_variance(database_url: str) -> None:
    books = Books(database_url)
    a = books.capture(1050)  # 1.4% of 1050 = 14.7, rounded half up to 15, plus 25
    books.reports.by_day[TODAY] = report(
        [Line("Settled", a.psp_reference, a.intent, a.psp_reference, 1050, commission=42)]
    )

    assert books.reconcile().breaks == []

    balances = books.balances()
    assert balances[f"psp:{books.connector}:usd:fees"] == 40
    assert balances[f"psp:{books.connector}:usd:fee_variance"] == 2
    assert balances[f"psp:{books.connector}:usd:clearing"] == 1050 - 42


def test_the_ledger_audit_reports_suspense_no_open_item_explains(database_url: str) -> None:
    from payplane.domain import ledger
    from payplane.domain.ledger import JournalKind, SettlementTotals

    books = Books(database_url)
    books.reports.by_day[TODAY] = report([])
    books.reconcile()
    stray = SettlementTotals(
        books.connector, "usd", clearing=-5, suspense={"missing_internally": 5}
    )

    async def post(uow):  # a hand-made posting, as a bad fix would make
        await uow.ledger.post(ledger.settlement(stray, kind=JournalKind.REMEDIATION))

    books._uow(post)

    (violation,) = books.violations()
    assert violation.startswith("suspense_mismatch la_")
    assert "balance 5, open remediation items hold 0" in violation


class _At:
    def __init__(self, when: datetime) -> None:
        self._when = when

    def now(self) -> int:
        return int(self._when.timestamp())


def test_the_daily_job_reconciles_yesterday_once_from_its_time_of_day(database_url: str) -> None:
    books = Books(database_url)
    yesterday = TODAY - timedelta(days=1)
    books.reports.by_day[yesterday] = report([])
    midnight = datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=UTC)
    early, late = _At(midnight + timedelta(hours=1, minutes=59)), _At(midnight + timedelta(hours=2))

    def daily(clock: _At) -> int:
        return books.with_service(lambda s: s.run_daily(time(2, 0)), clock)

    assert daily(early) == 0
    assert daily(late) == 1
    assert daily(late) == 0  # done: the next worker (or round) finds the run
    run = books.with_service(lambda s: s.list(ListQuery(limit=100)))
    assert [r["date"] for r in run.data if r["source"] == books.connector] == [str(yesterday)]


def test_a_capture_the_resolver_books_after_the_report_is_settled_by_that_line(
    database_url: str,
) -> None:
    from payplane.domain.attempt import AttemptStatus as Status

    books = Books(database_url)
    payment, attempt = books.in_doubt(1500)  # the PSP cannot say yet: lookups answer unknown
    books.reports.by_day[TODAY] = report(
        [Line("Settled", "psp_late", payment.intent, "psp_late", 1500)]
    )
    (item,) = books.reconcile().breaks
    assert (item["type"], item["status"]) == ("missing_internally", "open")
    # Later the resolver learns the outcome and books the capture the normal way (its path for
    # one attempt: the PSP's answer through orchestrator.apply_result).
    answer = PspResult(PspOutcome.SUCCEEDED, psp_reference="psp_late")

    async def resolver(uow):
        intent = await uow.intents.get(None, payment.intent, lock=True)
        locked = await uow.attempts.get(attempt.id, lock=True)
        ctx = RequestContext(books.merchant, "system:resolver", "req_test")
        await orchestrator.apply_result(
            uow, ctx, _At(datetime.now(UTC)), intent, locked, answer, capture_window=3600
        )

    books._uow(resolver)
    tomorrow = TODAY + timedelta(days=1)
    books.reports.by_day[tomorrow] = report([])

    # The next run does not call the capture missing: the earlier line settles it, once.
    assert books.reconcile(tomorrow).breaks == []
    settled = books.with_service(lambda s: s._remediation.retrieve(item["id"]))
    assert settled["status"] == "auto_resolved"
    with psycopg.connect(database_url) as conn:
        (status,) = conn.execute(
            "SELECT status FROM payment_attempts WHERE id = %s", (attempt.id,)
        ).fetchone()  # type: ignore[misc]
    assert status == Status.SUCCEEDED.value
    assert not any(code.startswith("suspense") for code in books.balances())
    assert f"psp:{books.connector}:usd:receivable" not in books.balances()
    assert books.violations() == []
