"""PSP webhooks end to end: the simulator signs and sends them to the API's inbox, the worker
applies them. A lost synchronous answer is completed by the webhook; forged, stale and replayed
webhooks change nothing; duplicated, reordered and delayed delivery ends exactly where clean
delivery does; an event about a payment nobody knows is parked after its retries."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import stripe
from standardwebhooks import Webhook
from tests.e2e.support import api, ledger_of, query, stripe_client, wait_for

from payplane.config import SIMULATOR_WEBHOOK_SECRET


def _post_webhook(
    platform, body: bytes, *, secret: str = SIMULATOR_WEBHOOK_SECRET, age: float = 0,
    signed_body: bytes | None = None,
) -> httpx.Response:  # fmt: skip
    """POST `body` to the inbox as the simulator would: signed with `secret`, `age` s ago,
    over `signed_body` if given (a body tampered with on the way)."""
    event_id = orjson.loads(body)["id"]
    at = datetime.fromtimestamp(time.time() - age, tz=UTC)
    signature = Webhook(secret).sign(event_id, at, (signed_body or body).decode())
    headers = {"webhook-id": event_id, "webhook-timestamp": str(int(at.timestamp()))}
    headers["webhook-signature"] = signature
    return httpx.post(
        f"{platform.api_url}/psp-webhooks/simulator", content=body, headers=headers, timeout=10
    )


def _inbox_rows(platform, event_id: str) -> list[dict[str, Any]]:
    return query(
        platform,
        "SELECT status, attempts, last_error FROM psp_inbox WHERE psp_event_id = %s",
        event_id,
    )


def test_a_lost_authorization_answer_is_completed_by_the_webhook(platform) -> None:
    # The PSP authorizes and commits, but its answer never comes back: the API times out (2 s)
    # and the intent would wait for the resolver (3 s) if the webhook did not tell first.
    platform.set_faults(drop_response_rate=1.0, hang_seconds=4, paths=["/v1/authorizations"])
    try:
        with api(platform) as client:
            response = client.post(
                "/v1/payment_intents",
                data={
                    "amount": "2600",
                    "currency": "usd",
                    "payment_method": "pm_card_visa",
                    "confirm": "true",
                },
            )
    finally:
        platform.reset_faults()
    # The webhook got there while the API was still waiting: its own late "no answer" is moot.
    assert response.status_code == 200, response.text
    intent = response.json()
    assert intent["status"] == "succeeded"
    actors = query(
        platform,
        "SELECT actor FROM audit_log WHERE object_id = %s "
        "AND action = 'payment_intent.authorize.succeeded'",
        intent["id"],
    )
    assert actors == [{"actor": "system:psp_webhook"}]
    journals = query(
        platform,
        "SELECT kind FROM ledger_journals WHERE payment_intent_id = %s ORDER BY kind",
        intent["id"],
    )
    assert journals == [{"kind": "authorization"}, {"kind": "capture"}]


def test_forged_stale_and_replayed_webhooks_change_nothing(platform) -> None:
    intent = stripe_client(platform).v1.payment_intents.create(
        params={
            "amount": 1800,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    platform.flush_webhooks()
    (stored,) = wait_for(
        lambda: query(
            platform,
            "SELECT psp_event_id, raw_body, status FROM psp_inbox "
            "WHERE event_type = 'authorization.captured' AND status = 'processed' "
            "AND convert_from(raw_body, 'UTF8') LIKE %s",
            f"%{intent.id}%",
        ),
        what="the authorization's webhook",
    )
    ledger_before = ledger_of(platform, intent.id)
    body = bytes(stored["raw_body"])

    fresh = orjson.loads(body) | {"id": f"evt_psp_{uuid.uuid4().hex}"}
    fresh_body = orjson.dumps(fresh)
    tampered = fresh_body.replace(b'"captured"', b'"voided"')
    forged = _post_webhook(platform, tampered, signed_body=fresh_body)
    assert forged.status_code == 400
    assert forged.json()["error"]["type"] == "invalid_request_error"
    assert forged.json()["error"]["code"] == "webhook_signature_invalid"
    other_secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="
    assert _post_webhook(platform, fresh_body, secret=other_secret).status_code == 400
    assert _post_webhook(platform, fresh_body, age=600).status_code == 400
    assert _inbox_rows(platform, fresh["id"]) == []
    unknown = httpx.post(f"{platform.api_url}/psp-webhooks/nopsp", content=body, timeout=10)
    assert unknown.status_code == 404

    # The stored event again: acknowledged as a duplicate, not stored or applied twice.
    replay = _post_webhook(platform, body)
    assert replay.json() == {"received": True, "duplicate": True}
    assert len(_inbox_rows(platform, stored["psp_event_id"])) == 1
    # The same fact under a new event id is stored and applied, to no effect.
    accepted = _post_webhook(platform, fresh_body)
    assert accepted.json() == {"received": True, "duplicate": False}
    wait_for(
        lambda: _inbox_rows(platform, fresh["id"])[0]["status"] == "processed",
        what="the copy to be processed",
    )
    assert ledger_of(platform, intent.id) == ledger_before
    assert stripe_client(platform).v1.payment_intents.retrieve(intent.id).status == "succeeded"


def test_an_event_about_an_unknown_payment_is_parked_after_its_retries(platform) -> None:
    event_id = f"evt_psp_{uuid.uuid4().hex}"
    dispute = dict(
        id=f"psd_{uuid.uuid4().hex}", object="dispute", authorization="psp_unknown",
        merchant_reference="pi_nobody_knows_this_one", amount=1000, currency="usd",
        reason="fraudulent", status="needs_response", fee=1500, evidence={},
        evidence_submitted=False, evidence_due_by=1, created=1, change_seq=10**9,
    )  # fmt: skip
    body = orjson.dumps(
        {"id": event_id, "type": "chargeback.opened", "created": 1, "data": dispute}
    )
    assert _post_webhook(platform, body).status_code == 200
    # Four tries (the e2e platform's inbox_max_attempts) 0.5 + 1 + 2 s apart.
    (row,) = wait_for(
        lambda: [r for r in _inbox_rows(platform, event_id) if r["status"] == "parked"],
        timeout=20,
        what="the event to be parked",
    )
    assert row["attempts"] == 4
    assert "pi_nobody_knows_this_one" in row["last_error"]
    audit = query(
        platform,
        "SELECT actor FROM audit_log WHERE action = 'psp_webhook.parked' AND object_id = %s",
        event_id,
    )
    assert audit == [{"actor": "system:psp_webhook"}]
    assert query(
        platform, "SELECT count(*) AS n FROM disputes WHERE psp_dispute_id = %s", dispute["id"]
    ) == [{"n": 0}]


# -- duplicate, reordered and delayed delivery ends where clean delivery does ---------------------


def _scenario(platform, secret: str) -> dict[str, str]:
    """The same money movements for a fresh merchant; its payments' ids by role."""
    client = stripe_client(platform, secret)
    intents = client.v1.payment_intents
    ids: dict[str, str] = {}
    admin = httpx.Client(base_url=platform.simulator_url, timeout=10)

    def pay(role: str, amount: int, *, manual: bool = False, card: str = "pm_card_visa") -> str:
        params: dict[str, Any] = {"amount": amount, "currency": "usd", "payment_method": card}
        if manual:
            params["capture_method"] = "manual"
        try:
            ids[role] = intents.create(params={**params, "confirm": True}).id
        except stripe.CardError:  # the declined intent is the newest one
            ids[role] = intents.list(params={"limit": 1}).data[0].id
        return ids[role]

    pay("held", 4_000, manual=True)
    intents.capture(pay("captured", 5_000, manual=True), params={"amount_to_capture": 2_500})
    intents.cancel(pay("voided", 3_500, manual=True))
    pay("declined", 1_500, card="pm_card_visa_chargeDeclined")
    for role, mode, amount in [
        ("refunded", "pending_then_succeed", 1_000),
        ("refund_failed", "pending_then_fail", 1_200),
    ]:
        behavior = {"mode": mode, "delay_seconds": 1}
        admin.post("/admin/refund_behavior", json=behavior).raise_for_status()
        client.v1.refunds.create(params={"payment_intent": pay(role, 3_000), "amount": amount})
    admin.post("/admin/refund_behavior", json={"mode": "succeed"}).raise_for_status()
    (authorization,) = query(
        platform,
        "SELECT psp_reference FROM payment_attempts WHERE payment_intent_id = %s "
        "AND kind = 'authorize' AND status = 'succeeded'",
        pay("disputed", 6_000),
    )
    opened = admin.post("/admin/disputes", json={"authorization": authorization["psp_reference"]})
    opened.raise_for_status()
    admin.post(
        f"/admin/disputes/{opened.json()['id']}/status", json={"status": "won"}
    ).raise_for_status()
    admin.close()
    return ids


def _state(platform, merchant_id: str, secret: str, payments: dict[str, str]) -> dict[str, Any]:
    """Everything money-related of the merchant, with its own ids taken out."""
    state: dict[str, Any] = {}
    for role, intent_id in payments.items():
        (intent,) = query(
            platform,
            "SELECT status, amount, amount_capturable, amount_received, amount_refunded, "
            "last_payment_error->>'decline_code' AS decline FROM payment_intents WHERE id = %s",
            intent_id,
        )
        refunds = query(
            platform,
            "SELECT amount, status, failure_reason, booked FROM refunds "
            "WHERE payment_intent_id = %s ORDER BY amount, status",
            intent_id,
        )
        disputes = query(
            platform,
            "SELECT amount, status, fee, funds_withdrawn FROM disputes "
            "WHERE payment_intent_id = %s",
            intent_id,
        )
        ledger = sorted(
            (e["journal_kind"], e["account"].replace(merchant_id, "M"), e["direction"], e["amount"])
            for e in ledger_of(platform, intent_id)
        )
        state[role] = {"intent": intent, "refunds": refunds, "disputes": disputes, "ledger": ledger}
    with api(platform, secret) as http:
        state["balance"] = http.get("/v1/balance").json()
    return state


def _final(state: dict[str, Any]) -> bool:
    """No refund still pending and the dispute ruled: what both runs must get to."""
    refunds = [r for payment in state.values() if "refunds" in payment for r in payment["refunds"]]
    return all(r["status"] != "pending" for r in refunds) and [
        d["status"] for d in state["disputed"]["disputes"]
    ] == ["won"]


def _run(platform, name: str) -> dict[str, Any]:
    merchant_id, secret = platform.new_merchant(name)
    payments = _scenario(platform, secret)
    platform.flush_webhooks()
    wait_for(
        lambda: _final(_state(platform, merchant_id, secret, payments)),
        timeout=30,
        what=f"the {name} run to settle",
    )
    platform.flush_webhooks()
    # Nothing left for the processor: every stored event is processed or parked.
    pending = "SELECT count(*) AS n FROM psp_inbox WHERE status = 'pending'"
    wait_for(lambda: query(platform, pending) == [{"n": 0}], timeout=20, what="an empty inbox")
    return _state(platform, merchant_id, secret, payments)


def test_duplicate_reordered_and_delayed_webhooks_end_as_clean_delivery(platform) -> None:
    clean = _run(platform, "webhooks clean")
    before = platform.webhook_stats()
    platform.set_webhook_faults(duplicate_rate=0.5, reorder=True, delay_ms=200)
    try:
        faulty = _run(platform, "webhooks faulty")
    finally:
        platform.reset_faults()
    after = platform.webhook_stats()
    assert after["duplicates_sent"] > before["duplicates_sent"]
    for role in clean:
        assert faulty[role] == clean[role], role
    # Sanity of the reference run itself.
    assert clean["captured"]["intent"]["amount_received"] == 2_500
    assert clean["refunded"]["refunds"][0]["status"] == "succeeded"
    assert clean["refund_failed"]["refunds"][0]["status"] == "failed"
    assert clean["declined"]["intent"]["decline"] == "generic_decline"
    journal_kinds = {e[0] for e in clean["disputed"]["ledger"]}
    assert {"chargeback", "chargeback_reversal"} <= journal_kinds
