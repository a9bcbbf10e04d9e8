"""Events of payments that wait for customers and banks: each change says who made it."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
from action_support import complete, created, fetch, set_timing
from simulator_support import post
from webhook_support import Receiver, flush, summary, verified

pytestmark = pytest.mark.anyio


async def test_customer_bank_and_clock_changes_carry_the_create_key(
    hooked: httpx.AsyncClient, receiver: Receiver
) -> None:
    await set_timing(hooked, bank_redirect_settle_seconds=0, bank_debit_settle_seconds=0)
    card = await created(hooked, "card", key="card", capture=True)
    await complete(hooked, card, "approve")
    await complete(hooked, card, "approve")  # a double submit says nothing more
    wallet = await created(hooked, "wallet", key="wallet")
    await complete(hooked, wallet, "fail")
    bank = await created(hooked, "bank_redirect", key="bank")
    await complete(hooked, bank, "approve")
    await created(hooked, "bank_debit", key="debit", payment_method="pm_sepa_debit_fails")
    voided = await created(hooked, "card", key="to-void")
    await post(hooked, f"/v1/authorizations/{voided['id']}/void", {}, "void")
    expired = await created(hooked, "card", key="to-expire")
    await post(hooked, f"/v1/authorizations/{expired['id']}/expire", {}, "expire")
    await set_timing(hooked, action_timeout_seconds=0.01)
    await created(hooked, "wallet", key="timed-out")

    # Nothing reads the pending and unanswered payments: the sweeper settles and expires them.
    received = await receiver.wait_for(15)
    assert summary(received) == Counter(
        {
            ("authorization.requires_action", "card", "authorize"): 1,
            ("authorization.captured", "card", "authorize"): 1,
            ("authorization.requires_action", "wallet", "authorize"): 1,
            ("authorization.failed", "wallet", "authorize"): 1,
            ("authorization.requires_action", "bank", "authorize"): 1,
            ("authorization.pending", "bank", "authorize"): 1,
            ("authorization.captured", "bank", "authorize"): 1,
            ("authorization.pending", "debit", "authorize"): 1,
            ("authorization.failed", "debit", "authorize"): 1,
            ("authorization.requires_action", "to-void", "authorize"): 1,
            ("authorization.voided", "void", "void"): 1,
            ("authorization.requires_action", "to-expire", "authorize"): 1,
            ("authorization.failed", "expire", "expire"): 1,
            ("authorization.requires_action", "timed-out", "authorize"): 1,
            ("authorization.failed", "timed-out", "authorize"): 1,
        }
    )
    assert (await flush(hooked))["delivered"] == 15
    events = [verified(request) for request in receiver.received()]
    assert all("product" in event["data"] for event in events)
    of_card = {e["type"]: e["data"] for e in events if e["data"]["id"] == card["id"]}
    waiting = of_card["authorization.requires_action"]
    assert waiting["next_action"]["url"].endswith(f"/pages/3ds/{card['id']}")
    current = await fetch(hooked, card["id"])
    expected = {**current, "idempotency_key": "card", "operation": "authorize"}
    assert of_card["authorization.captured"] == expected
