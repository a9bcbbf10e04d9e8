"""No double charge: concurrent duplicates, a killed API, and a PSP that times out."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
from tests.e2e.support import api, ledger_of, query


def _authorizations(platform) -> int:
    return platform.simulator_stats()["authorizations"]["total"]


def test_twenty_concurrent_identical_requests_make_one_authorization(platform) -> None:
    key = f"conc-{uuid.uuid4()}"
    body = {
        "amount": "4200",
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": "true",
    }
    platform.set_faults(latency_ms=300)  # keep the first request in flight while the rest arrive
    before = _authorizations(platform)
    results: list[httpx.Response] = []
    barrier = threading.Barrier(20)

    def send() -> None:
        with api(platform) as client:
            barrier.wait()
            results.append(
                client.post("/v1/payment_intents", data=body, headers={"Idempotency-Key": key})
            )

    try:
        threads = [threading.Thread(target=send) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        platform.reset_faults()

    statuses = sorted(r.status_code for r in results)
    assert statuses.count(200) >= 1
    assert set(statuses) <= {200, 409}
    conflicts = [r.json()["error"] for r in results if r.status_code == 409]
    assert all(e["type"] == "idempotency_error" for e in conflicts)
    assert _authorizations(platform) == before + 1
    ids = {r.json()["id"] for r in results if r.status_code == 200}
    assert len(ids) == 1
    # Once finished, the key replays the stored response.
    with api(platform) as client:
        replay = client.post("/v1/payment_intents", data=body, headers={"Idempotency-Key": key})
    assert replay.status_code == 200
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] in ids
    assert _authorizations(platform) == before + 1


def test_kill_api_between_psp_call_and_commit_then_retry(platform) -> None:
    key = f"kill-{uuid.uuid4()}"
    with api(platform) as client:
        intent = client.post(
            "/v1/payment_intents", data={"amount": "3100", "currency": "usd"}
        ).json()
    before = _authorizations(platform)
    # The PSP takes 1.5 s; the API dies while waiting for it, after the attempt was committed.
    platform.set_faults(latency_ms=1500)
    outcome: dict[str, object] = {}

    def confirm() -> None:
        try:
            with api(platform) as client:
                outcome["response"] = client.post(
                    f"/v1/payment_intents/{intent['id']}/confirm",
                    data={"payment_method": "pm_card_visa"},
                    headers={"Idempotency-Key": key},
                )
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=confirm)
    thread.start()
    time.sleep(0.6)
    platform.kill_api()
    thread.join()
    assert "error" in outcome, "the client saw the connection die"
    time.sleep(1.5)  # the PSP finishes the authorization nobody is waiting for
    platform.reset_faults()
    assert _authorizations(platform) == before + 1
    stuck = query(platform, "SELECT status FROM payment_intents WHERE id = %s", intent["id"])
    assert stuck[0]["status"] == "processing", "the PSP call was committed as an attempt first"

    platform.restart_api()
    deadline = time.monotonic() + 20
    with api(platform) as client:
        while True:  # the dead request's key lease (2 s in tests) must lapse first
            retry = client.post(
                f"/v1/payment_intents/{intent['id']}/confirm",
                data={"payment_method": "pm_card_visa"},
                headers={"Idempotency-Key": key},
            )
            if retry.status_code != 409 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
    assert retry.status_code == 200, retry.text
    assert retry.json()["status"] == "succeeded"
    assert _authorizations(platform) == before + 1, "the retry did not charge again"
    kinds = [e["journal_kind"] for e in ledger_of(platform, intent["id"])]
    # One hold (2 entries), one capture (4 entries: release the hold, book the payable).
    assert kinds.count("authorization") == 2
    assert kinds.count("capture") == 4


def test_psp_timeout_leaves_processing_and_the_resolver_completes_it(platform) -> None:
    before = _authorizations(platform)
    # Apply at the PSP, then withhold the answer past the API's 2 s read timeout; its webhook
    # is lost too, or it would complete the payment first (test_psp_webhooks shows that).
    platform.set_faults(drop_response_rate=1.0, hang_seconds=4)
    platform.set_webhook_faults(drop_rate=1.0)
    try:
        with api(platform) as client:
            response = client.post(
                "/v1/payment_intents",
                data={
                    "amount": "777",
                    "currency": "usd",
                    "payment_method": "pm_card_visa",
                    "confirm": "true",
                    "capture_method": "manual",
                },
            )
    finally:
        platform.reset_faults()
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "psp_outcome_unknown"
    intent_id = query(
        platform,
        "SELECT payment_intent_id FROM payment_attempts "
        "WHERE status = 'unknown' ORDER BY created_at DESC LIMIT 1",
    )[0]["payment_intent_id"]
    assert (
        query(platform, "SELECT status FROM payment_intents WHERE id = %s", intent_id)[0]["status"]
        == "processing"
    )

    deadline = time.monotonic() + 30
    with api(platform) as client:
        while time.monotonic() < deadline:
            status = client.get(f"/v1/payment_intents/{intent_id}").json()["status"]
            if status != "processing":
                break
            time.sleep(0.5)
    assert status == "requires_capture", "the resolver asked the PSP and applied its answer"
    assert _authorizations(platform) == before + 1
    assert [e["journal_kind"] for e in ledger_of(platform, intent_id)] == ["authorization"] * 2


def test_psp_down_is_a_clean_error_and_nothing_is_charged(platform) -> None:
    before = _authorizations(platform)
    platform.set_faults(error_rate=1.0)
    try:
        with api(platform) as client:
            response = client.post(
                "/v1/payment_intents",
                data={
                    "amount": "500",
                    "currency": "usd",
                    "payment_method": "pm_card_visa",
                    "confirm": "true",
                },
                headers={"Idempotency-Key": f"down-{uuid.uuid4()}"},
            )
    finally:
        platform.reset_faults()
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "psp_unavailable"
    assert _authorizations(platform) == before
