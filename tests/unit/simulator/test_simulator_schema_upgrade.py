"""A database written before products existed keeps its authorizations and takes new ones."""

from __future__ import annotations

import sqlite3

import pytest
from action_support import created, fetch
from simulator_support import post
from webhook_support import simulator_client

from psp_simulator import Settings, create_app, refund_rows

pytestmark = pytest.mark.anyio

_OLD_AUTHORIZATIONS = """
CREATE TABLE authorizations (
    id TEXT PRIMARY KEY,
    merchant_reference TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('authorized', 'captured', 'voided', 'declined')),
    captured_amount INTEGER NOT NULL CHECK (captured_amount BETWEEN 0 AND amount),
    payment_method TEXT NOT NULL,
    decline TEXT,
    created INTEGER NOT NULL
);
INSERT INTO authorizations VALUES
    ('psp_old_captured', 'o', 900, 'usd', 'captured', 900, 'pm_card_visa', NULL, 1700000000),
    ('psp_old_declined', 'o', 500, 'usd', 'declined', 0, 'pm_card_visa_chargeDeclined',
     '{"code":"card_declined","decline_code":"generic_decline","message":"Declined."}',
     1700000000);
"""


async def test_old_authorizations_survive_the_upgrade(settings: Settings) -> None:
    settings.db_path.parent.mkdir(parents=True)
    with sqlite3.connect(settings.db_path) as connection:
        connection.executescript(_OLD_AUTHORIZATIONS + refund_rows.SCHEMA)
    connection.close()

    app = create_app(settings)
    async with app.router.lifespan_context(app), simulator_client(app) as client:
        old = await fetch(client, "psp_old_captured")
        assert (old["status"], old["product"], old["captured_amount"]) == ("captured", "card", 900)
        assert (old["next_action"], old["expires_at"]) == (None, None)
        declined = await fetch(client, "psp_old_declined")
        assert declined["decline"]["decline_code"] == "generic_decline"
        refund = await post(client, "/v1/authorizations/psp_old_captured/refunds", {"amount": 100})
        assert refund.json()["status"] == "succeeded"
        assert (await created(client, "card"))["status"] == "requires_action"

    with sqlite3.connect(settings.db_path) as connection:
        (refunds_table,) = connection.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'refunds'"
        ).fetchone()
    connection.close()
    # Rebuilding the table must not have redirected the refunds' reference elsewhere.
    assert "REFERENCES authorizations (id)" in refunds_table
