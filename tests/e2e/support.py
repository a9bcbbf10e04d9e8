"""Helpers shared by the e2e tests: clients for the running platform and database reads."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest
import stripe
from psycopg.rows import dict_row


def stripe_client(platform: Any, secret: str | None = None) -> stripe.StripeClient:
    return stripe.StripeClient(
        secret or platform.secret_key, base_addresses={"api": platform.api_url}
    )


def api(platform: Any, secret: str | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=platform.api_url, timeout=30, auth=(secret or platform.secret_key, "")
    )


def query(platform: Any, sql: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(platform.database_url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def ledger_of(platform: Any, intent_id: str) -> list[dict[str, Any]]:
    return query(
        platform,
        """
        SELECT j.kind AS journal_kind, a.code AS account, e.direction, e.amount, e.currency
          FROM ledger_entries e
          JOIN ledger_journals j ON j.id = e.journal_id
          JOIN ledger_accounts a ON a.id = e.account_id
         WHERE e.payment_intent_id = %s ORDER BY e.id
        """,
        intent_id,
    )


def row_counts(platform: Any, merchant_id: str) -> dict[str, int]:
    """What a merchant has written: bad input must leave every count unchanged."""
    tables = {
        "payment_intents": "merchant_id = %s",
        "payment_attempts": "merchant_id = %s",
        "events": "merchant_id = %s",
        "audit_log": "merchant_id = %s",
        "idempotency_keys": "merchant_id = %s",
        "ledger_entries": "payment_intent_id IN (SELECT id FROM payment_intents "
        "WHERE merchant_id = %s)",
    }
    return {
        table: query(
            platform,
            f"SELECT count(*) AS n FROM {table} WHERE {where}",  # noqa: S608
            merchant_id,
        )[0]["n"]
        for table, where in tables.items()
    }


def wait_for(check: Callable[[], Any], timeout: float = 20, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)
