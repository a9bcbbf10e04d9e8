"""The running worker seals audit rows within seconds, and `payplane audit verify` finds the
platform's chain intact."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.e2e.support import query, stripe_client


def test_the_worker_seals_audit_rows_and_the_chain_verifies(platform) -> None:
    intent = stripe_client(platform).v1.payment_intents.create(
        params={
            "amount": 1200,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    deadline = time.monotonic() + 15
    while True:
        rows = query(
            platform,
            "SELECT a.id, s.seq FROM audit_log a LEFT JOIN audit_seals s ON s.audit_id = a.id "
            "WHERE a.object_id = %s",
            intent.id,
        )
        if rows and all(row["seq"] is not None for row in rows):
            break
        assert time.monotonic() < deadline, f"audit rows of {intent.id} not sealed: {rows}"
        time.sleep(0.2)

    result = subprocess.run(
        [sys.executable, "-m", "payplane.cli", "audit", "verify"],
        env={**os.environ, "PAYPLANE_DATABASE_URL": platform.database_url, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "audit chain intact" in result.stdout
