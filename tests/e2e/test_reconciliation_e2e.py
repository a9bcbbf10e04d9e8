"""Reconciliation end to end, on a platform of this module's own (its simulator's settlement
batches are this module's to close): payments through the stripe SDK, discrepancies injected
at the simulator, runs and the remediation queue through the operator API and the CLI. The
ledger audit after each test also checks that every suspense account holds exactly what the
open items say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from tests.conftest import fresh_database
from tests.e2e.conftest import Platform, started_platform
from tests.e2e.support import api, query, stripe_client

from payplane.runtime.launcher import settings_env

TOKEN = "op-token-for-the-reconciliation-e2e"
TODAY = datetime.now(UTC).date()
TOMORROW = TODAY + timedelta(days=1)


@pytest.fixture(scope="module")
def platform(
    database_url: str,
    nats_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Platform]:
    url = fresh_database(database_url, "payplane_e2e_reconciliation")
    home = tmp_path_factory.mktemp("reconciliation_platform")
    # The resolver stays away from attempts in doubt: reconciliation is to find them.
    with started_platform(
        url, nats_url, home, request, operator_token=TOKEN, resolver_min_age_seconds=3600
    ) as running:
        yield running


@pytest.fixture(scope="module")
def day_one(platform: Platform) -> dict[str, Any]:
    """Today's payments with a discrepancy of every kind the simulator injects, its batch
    closed, and today reconciled through the API."""
    client = stripe_client(platform)
    paid = {name: _pay(client, amount) for name, amount in (
        ("clean", 2000), ("short", 3000), ("dropped", 4000), ("doubled", 5000), ("foreign", 6000),
    )}  # fmt: skip
    client.v1.refunds.create(params={"payment_intent": paid["clean"], "amount": 500})
    paid["lost"] = _lost_response(platform, 2500)
    for kind, extra in (
        ("amount_off", {"psp_reference": _psp(platform, paid["short"]), "delta": 3}),
        ("missing_line", {"psp_reference": _psp(platform, paid["dropped"])}),
        ("duplicate_line", {"psp_reference": _psp(platform, paid["doubled"])}),
        ("currency_mismatch", {"psp_reference": _psp(platform, paid["foreign"]),
                               "currency": "EUR"}),
        ("unknown_capture", {"amount": 777, "currency": "USD"}),
        ("payout_mismatch", {"delta": 5, "currency": "USD"}),
    ):  # fmt: skip
        _simulator(platform, "/admin/settlement/discrepancies", date=str(TODAY), kind=kind, **extra)
    _simulator(platform, "/admin/settlement/close", date=str(TODAY))
    response = _operator(platform).post(
        "/v1/reconciliation/runs", data={"date": str(TODAY)}, headers={"Idempotency-Key": "day1"}
    )
    assert response.status_code == 200, response.text
    return {"paid": paid, "run": response.json()}


def test_every_injected_discrepancy_is_found_classified_and_held_in_suspense(
    platform: Platform, day_one: dict[str, Any]
) -> None:
    paid, run = day_one["paid"], day_one["run"]
    items = _items(platform, run=run["id"])
    found = {(item["type"], item["payment_intent"]): item for item in items}

    assert len(items) == len(found) == 7
    assert set(found) == {
        ("amount_mismatch", paid["short"]),
        ("missing_in_report", paid["dropped"]),
        ("duplicate_in_report", paid["doubled"]),
        ("currency_mismatch", paid["foreign"]),
        ("missing_internally", None),  # the capture nobody knows
        ("missing_internally", paid["lost"]),  # the lost response, confirmed by the PSP
        ("payout_mismatch", None),
    }
    assert found[("amount_mismatch", paid["short"])]["suspense"][0]["net"] == -3
    assert found[("duplicate_in_report", paid["doubled"])]["proposal"]["amount"] == 5000
    assert found[("missing_internally", None)]["amount"] == 777
    lost = found[("missing_internally", paid["lost"])]
    assert lost["status"] == "auto_resolved"
    assert "confirmed the capture" in lost["explanation"]
    intent = stripe_client(platform).v1.payment_intents.retrieve(paid["lost"])
    assert (intent.status, intent.amount_received) == ("succeeded", 2500)
    summary = run["summary"]
    # Matched exactly: the clean capture, its refund and the first of the doubled lines.
    assert summary["matched"] == {"count": 3, "amounts": {"usd": 2000 + 500 + 5000}}
    assert {b["currency"] for b in summary["batches"]} == {"eur", "usd"}
    usd = next(b for b in summary["batches"] if b["currency"] == "usd")
    assert usd["payout"] == usd["net"] + 5  # the injected payout_mismatch
    assert usd["clearing"] == usd["payout"]
    assert found[("payout_mismatch", None)]["suspense"][0]["net"] == -5
    assert run["status"] == "completed"
    assert not run["dry_run"]


def test_the_same_date_again_is_the_stored_run_and_posts_nothing(
    platform: Platform, day_one: dict[str, Any]
) -> None:
    journals = _count(platform, "ledger_journals")
    again = _operator(platform).post("/v1/reconciliation/runs", json={"date": str(TODAY)})
    replay = _operator(platform).post(
        "/v1/reconciliation/runs", data={"date": str(TODAY)}, headers={"Idempotency-Key": "day1"}
    )

    assert again.status_code == 200
    assert again.json()["id"] == day_one["run"]["id"]
    assert again.json()["replayed"] is True
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == day_one["run"]
    assert _count(platform, "ledger_journals") == journals
    listed = _operator(platform).get("/v1/reconciliation/runs", params={"limit": 1}).json()
    assert [r["id"] for r in listed["data"]] == [day_one["run"]["id"]]


def test_a_late_chargeback_shows_the_next_day_and_a_dry_run_leaves_nothing(
    platform: Platform, day_one: dict[str, Any]
) -> None:
    clean = day_one["paid"]["clean"]
    _simulator(
        platform, "/admin/settlement/discrepancies", date=str(TOMORROW), kind="late_chargeback",
        psp_reference=_psp(platform, clean),
    )  # fmt: skip
    _simulator(platform, "/admin/settlement/close", date=str(TOMORROW))
    before = {t: _count(platform, t) for t in ("ledger_journals", "remediation_items")}

    dry = _operator(platform).post(
        "/v1/reconciliation/runs", data={"date": str(TOMORROW), "dry_run": "true"}
    )

    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] is True
    assert {t: _count(platform, t) for t in before} == before
    real = _operator(platform).post("/v1/reconciliation/runs", json={"date": str(TOMORROW)})
    assert real.json()["summary"]["breaks"] == dry.json()["summary"]["breaks"]
    (item,) = _items(platform, run=real.json()["id"])
    assert (item["type"], item["payment_intent"]) == ("unexpected_chargeback", clean)
    # The capture missing from today's report is not reported missing a second time.
    assert real.json()["summary"]["breaks"].keys() == {"unexpected_chargeback"}


def test_operators_work_the_queue_through_the_api(
    platform: Platform, day_one: dict[str, Any]
) -> None:
    paid, run = day_one["paid"], day_one["run"]
    operator = _operator(platform)
    short = _items(platform, run=run["id"], type="amount_mismatch")[0]
    dropped = _items(platform, run=run["id"], type="missing_in_report")[0]
    base = f"/v1/remediation/items/{short['id']}"

    assert operator.post(f"{base}/assign", data={"assignee": "alice"}).json()["assignee"] == "alice"
    assert operator.post(f"{base}/notes", json={"text": "PSP rounding"}).status_code == 200
    assert operator.post(f"{base}/review", data={}).json()["status"] == "in_review"
    refused = operator.post(f"{base}/resolve", data={"reason": "keep it"})
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "account"
    resolved = operator.post(
        f"{base}/resolve",
        data={"reason": "the PSP overpaid; keep it", "account": "platform:adjustments:psp_gains"},
    ).json()
    assert resolved["status"] == "resolved"
    assert [j["purpose"] for j in resolved["journals"]] == ["opened", "resolved"]

    key = {"Idempotency-Key": f"write-off-{dropped['id']}"}
    path = f"/v1/remediation/items/{dropped['id']}/write_off"
    first = operator.post(path, data={"reason": "never settled"}, headers=key)
    again = operator.post(path, data={"reason": "never settled"}, headers=key)
    assert first.json()["status"] == "written_off"
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert len([j for j in again.json()["journals"] if j["purpose"] == "resolved"]) == 1
    assert (
        _items(platform, run=run["id"], status="written_off")[0]["payment_intent"]
        == (paid["dropped"])
    )
    audit = query(
        platform,
        "SELECT action, actor FROM audit_log WHERE object_id = %s ORDER BY id",
        short["id"],
    )
    assert [row["action"] for row in audit] == [
        "remediation_item.assign",
        "remediation_item.note",
        "remediation_item.review",
        "remediation_item.resolve",
    ]
    (actor,) = {row["actor"] for row in audit}  # one operator, whoever the token stands for
    assert not actor.startswith("api_key")


@pytest.mark.usefixtures("day_one")
def test_the_operator_endpoints_want_the_operator_token(platform: Platform) -> None:
    merchant = httpx.Client(base_url=platform.api_url, auth=(platform.secret_key, ""))
    anonymous = httpx.Client(base_url=platform.api_url)
    for client, status in ((merchant, 403), (anonymous, 401)):
        response = client.get("/v1/remediation/items")
        assert response.status_code == status
        assert response.json()["error"]["type"] == "invalid_request_error"
    operator = _operator(platform)
    missing = operator.get("/v1/remediation/items/rmi_nope")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "resource_missing")
    bad = operator.post("/v1/reconciliation/runs", data={"date": "2025-13-40"})
    assert (bad.status_code, bad.json()["error"]["param"]) == (400, "date")
    unknown = operator.post(
        "/v1/reconciliation/runs", data={"date": str(TODAY), "connector": "nope"}
    )
    assert (unknown.status_code, unknown.json()["error"]["param"]) == (400, "connector")


def test_the_cli_reconciles_prints_and_writes_its_outputs(
    platform: Platform, day_one: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    shown = " ".join(_cli(platform, "reconcile", "--date", str(TODAY), "--out", str(out)).split())

    assert "reconciled before with this very report" in shown
    assert "clearing account per batch" in shown
    run = json.loads((out / "run.json").read_text())
    assert run["id"] == day_one["run"]["id"]
    breaks = (out / "breaks.csv").read_text().splitlines()
    assert len(breaks) == 1 + len(_items(platform, run=run["id"]))
    listed = _cli(platform, "remediation", "list", "--run", run["id"], "--type", "payout_mismatch")
    assert "payout_mismatch" in listed


def _pay(client: stripe.StripeClient, amount: int) -> str:
    intent = client.v1.payment_intents.create(
        params={"amount": amount, "currency": "usd", "payment_method": "pm_card_visa",
                "confirm": True}
    )  # fmt: skip
    assert intent.status == "succeeded"
    return intent.id


def _lost_response(platform: Platform, amount: int) -> str:
    """A payment the PSP captured whose answer and webhook were both lost: Payplane has its
    attempt in doubt, and no resolver looks at it in this module."""
    platform.set_faults(drop_response_rate=1.0, hang_seconds=0, paths=["/v1/authorizations"])
    platform.set_webhook_faults(drop_rate=1.0)
    try:
        with api(platform) as client:
            response = client.post(
                "/v1/payment_intents",
                data={"amount": str(amount), "currency": "usd", "payment_method": "pm_card_visa",
                      "confirm": "true"},
            )  # fmt: skip
        platform.flush_webhooks()  # the capture's webhook is dropped before faults are reset
    finally:
        platform.reset_faults()
    assert response.json()["error"]["code"] == "psp_outcome_unknown"
    (row,) = query(
        platform,
        "SELECT payment_intent_id FROM payment_attempts WHERE status = 'unknown' AND amount = %s",
        amount,
    )
    intent_id: str = row["payment_intent_id"]
    return intent_id


def _psp(platform: Platform, intent_id: str) -> str:
    (row,) = query(
        platform,
        "SELECT psp_reference FROM payment_attempts WHERE payment_intent_id = %s "
        "AND kind = 'authorize' AND status = 'succeeded'",
        intent_id,
    )
    reference: str = row["psp_reference"]
    return reference


def _simulator(platform: Platform, path: str, **body: Any) -> Any:
    response = httpx.post(platform.simulator_url + path, json=body, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _operator(platform: Platform) -> httpx.Client:
    return httpx.Client(
        base_url=platform.api_url, timeout=60, headers={"Authorization": f"Bearer {TOKEN}"}
    )


def _items(platform: Platform, **filters: str) -> list[dict[str, Any]]:
    page = _operator(platform).get("/v1/remediation/items", params={"limit": 100, **filters})
    assert page.status_code == 200, page.text
    assert page.json()["has_more"] is False
    items: list[dict[str, Any]] = page.json()["data"]
    return items


def _count(platform: Platform, table: str) -> int:
    return int(query(platform, f"SELECT count(*) AS n FROM {table}")[0]["n"])  # noqa: S608


def _cli(platform: Platform, *args: str) -> str:
    env = {**os.environ, **settings_env(platform.settings, platform.database_url)}
    env["COLUMNS"] = "200"
    done = subprocess.run(
        [sys.executable, "-m", "payplane.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout
