"""The remediation queue on a real PostgreSQL: operators' actions move items through their
lifecycle, money leaves suspense only by new journals, every action is audited, and an
Idempotency-Key makes a retried action happen once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from recon_support import CTX, TODAY, Books, Line, breaks_by_type, report

from payplane.domain.errors import InvalidRequest, UnexpectedState
from payplane.domain.ids import new_id
from payplane.domain.remediation import Action
from payplane.services.idempotency import RequestShape
from payplane.services.ports import ListQuery
from payplane.services.remediation import ActionParams
from payplane.services.responses import Response, fingerprint


def _queue(database_url: str) -> tuple[Books, dict[str, dict[str, Any]]]:
    """A run with an amount mismatch (the PSP paid 5 more) and a capture missing from it."""
    books = Books(database_url)
    short, books_missing = books.capture(1000), books.capture(800)
    books.reports.by_day[TODAY] = report(
        [Line("Settled", short.psp_reference, short.intent, short.psp_reference, 1005)]
    )
    found = breaks_by_type(books.reconcile())
    assert found["missing_in_report"][0]["payment_intent"] == books_missing.intent
    return books, {kind: items[0] for kind, items in found.items()}


def _act(
    books: Books, item_id: str, action: Action, key: str | None = None, **params: Any
) -> Response:
    ctx = CTX if key is None else CTX.__class__(CTX.merchant_id, CTX.actor, new_id("req"), key)
    path = f"/v1/remediation/items/{item_id}/{action.value}"
    shape = RequestShape("POST", path, fingerprint("POST", path, params))
    return books.with_service(
        lambda svc: svc._remediation.act(ctx, shape, item_id, action, ActionParams(**params))
    )


def _audit(database_url: str, item_id: str) -> list[tuple[str, str, str | None, str | None]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT action, actor, after_status, reason FROM audit_log WHERE object_id = %s "
            "ORDER BY id",
            (item_id,),
        ).fetchall()


def test_an_item_is_assigned_reviewed_and_resolved_to_a_named_account(database_url: str) -> None:
    books, items = _queue(database_url)
    item = items["amount_mismatch"]

    _act(books, item["id"], Action.ASSIGN, assignee="alice", reason="finance owns PSP fees")
    note = "the PSP rounds differently on this merchant"
    _act(books, item["id"], Action.NOTE, text=note)
    _act(books, item["id"], Action.REVIEW)
    with pytest.raises(InvalidRequest, match="holds -5 usd in suspense") as missing:
        _act(books, item["id"], Action.RESOLVE, reason="PSP overpaid, keep it")
    assert missing.value.param == "account"
    with pytest.raises(InvalidRequest, match="Invalid account"):
        _act(books, item["id"], Action.RESOLVE, reason="no", account=f"merchant:{books.merchant}:x")
    resolved = _act(
        books, item["id"], Action.RESOLVE, reason="PSP overpaid, keep it",
        account="platform:adjustments:psp_overpayments",
    ).body  # fmt: skip

    assert (resolved["status"], resolved["assignee"]) == ("resolved", "alice")
    assert [n["text"] for n in resolved["notes"]] == [note, "resolve: PSP overpaid, keep it"]
    assert [(j["purpose"], j["kind"]) for j in resolved["journals"]] == [
        ("opened", "settlement"),
        ("resolved", "remediation"),
    ]
    balances = books.balances()
    assert f"suspense:{books.connector}:usd:amount_mismatch" not in balances
    with psycopg.connect(database_url) as conn:
        (kept,) = conn.execute(
            "SELECT sum(b.credits - b.debits) FROM ledger_accounts a "
            "JOIN ledger_account_balances b ON b.account_id = a.id WHERE a.code = %s",
            ("platform:adjustments:usd:psp_overpayments",),
        ).fetchone()  # type: ignore[misc]
    assert kept >= 5
    assert _audit(database_url, item["id"]) == [
        ("remediation_item.assign", "test:operator", "open", "finance owns PSP fees"),
        ("remediation_item.note", "test:operator", "open", note),
        ("remediation_item.review", "test:operator", "in_review", None),
        ("remediation_item.resolve", "test:operator", "resolved", "PSP overpaid, keep it"),
    ]  # fmt: skip
    # Final: only notes may still be added.
    with pytest.raises(UnexpectedState, match="status of resolved"):
        _act(books, item["id"], Action.WRITE_OFF, reason="twice")
    _act(books, item["id"], Action.NOTE, text="checked again in March")
    assert books.violations() == []


def test_a_write_off_moves_the_suspense_to_the_write_off_expense(database_url: str) -> None:
    books, items = _queue(database_url)
    item = items["missing_in_report"]
    assert item["suspense"][0]["net"] == 800

    written = _act(books, item["id"], Action.WRITE_OFF, reason="PSP confirmed it never settled")

    assert written.body["status"] == "written_off"
    assert f"suspense:{books.connector}:usd:missing_in_report" not in books.balances()
    assert books.violations() == []
    # Written off, it is not reported missing again the next day.
    tomorrow = TODAY + timedelta(days=1)
    books.reports.by_day[tomorrow] = report([])
    assert books.reconcile(tomorrow).breaks == []


def test_a_retried_action_with_the_same_key_happens_once(database_url: str) -> None:
    books, items = _queue(database_url)
    item = items["missing_in_report"]
    key = new_id("key")

    first = _act(books, item["id"], Action.WRITE_OFF, key=key, reason="never settled")
    again = _act(books, item["id"], Action.WRITE_OFF, key=key, reason="never settled")

    assert again.replayed
    assert again.body == first.body
    assert len([j for j in again.body["journals"] if j["purpose"] == "resolved"]) == 1
    with pytest.raises(Exception, match="same parameters"):
        _act(books, item["id"], Action.WRITE_OFF, key=key, reason="something else")


def test_items_are_listed_by_run_status_and_type(database_url: str) -> None:
    books, items = _queue(database_url)
    run = items["missing_in_report"]["run"]
    _act(books, items["amount_mismatch"]["id"], Action.REVIEW)

    def listed(**filters: str) -> list[str]:
        query = ListQuery(limit=100, filters={"run_id": run, **filters})
        page = books.with_service(lambda svc: svc._remediation.list(query))
        return [item["type"] for item in page.data]

    assert sorted(listed()) == ["amount_mismatch", "missing_in_report"]
    assert listed(status="in_review") == ["amount_mismatch"]
    assert listed(type="missing_in_report") == ["missing_in_report"]
    assert listed(status="resolved") == []
