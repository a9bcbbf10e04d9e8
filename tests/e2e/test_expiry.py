"""Uncaptured authorizations expire: voided at the PSP, released in the ledger, exactly once
even with several workers racing for them."""

from __future__ import annotations

import time

import httpx
import psycopg
from tests.e2e.support import api, ledger_of, query

from payplane.runtime.processes import ChildProcess


def _authorized(platform, count: int) -> list[str]:
    ids = []
    with api(platform) as client:
        for _ in range(count):
            intent = client.post(
                "/v1/payment_intents",
                data={
                    "amount": "2500",
                    "currency": "usd",
                    "payment_method": "pm_card_visa",
                    "confirm": "true",
                    "capture_method": "manual",
                },
            ).json()
            assert intent["status"] == "requires_capture"
            ids.append(intent["id"])
    return ids


def _voided(platform) -> int:
    return int(
        httpx.get(f"{platform.simulator_url}/admin/stats").json()["authorizations"]["voided"]
    )


def test_authorizations_past_capture_before_are_canceled_automatically(platform, tmp_path) -> None:
    ids = _authorized(platform, 5)
    assert (
        query(
            platform,
            "SELECT capture_before - created AS window FROM payment_intents WHERE id = %s",
            ids[0],
        )[0]["window"]
        >= 7 * 24 * 3600 - 5
    )
    before = _voided(platform)
    # A second worker races the platform's own for the same expired authorizations.
    main_worker = platform.children["worker"]
    rival = ChildProcess(
        "worker-2", main_worker.argv, tmp_path / "worker-2.log", env=main_worker.env
    )
    rival.start()
    try:
        # Time passes: move these authorizations' deadline into the past.
        with psycopg.connect(platform.database_url) as conn:
            conn.execute("UPDATE payment_intents SET capture_before = 0 WHERE id = ANY(%s)", (ids,))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            rows = query(platform, "SELECT status FROM payment_intents WHERE id = ANY(%s)", ids)
            if all(r["status"] == "canceled" for r in rows):
                break
            time.sleep(0.3)
    finally:
        rival.stop()
    with api(platform) as client:
        for intent_id in ids:
            intent = client.get(f"/v1/payment_intents/{intent_id}").json()
            assert intent["status"] == "canceled"
            assert intent["cancellation_reason"] == "automatic"
            assert intent["amount_capturable"] == 0
            kinds = [e["journal_kind"] for e in ledger_of(platform, intent_id)]
            assert kinds == ["authorization"] * 2 + ["expiry"] * 2
            voids = query(
                platform,
                "SELECT count(*) AS n FROM payment_attempts "
                "WHERE payment_intent_id = %s AND kind = 'void'",
                intent_id,
            )
            assert voids[0]["n"] == 1
    assert _voided(platform) == before + 5
