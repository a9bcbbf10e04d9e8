from __future__ import annotations

import asyncio
import base64
import secrets
from collections import Counter

import httpx
import pytest
from simulator_support import authorize, post
from standardwebhooks.webhooks import WebhookVerificationError
from webhook_support import (
    Receiver,
    flush,
    set_webhook_faults,
    simulator_client,
    summary,
    verified,
)

from psp_simulator import Settings, create_app

pytestmark = pytest.mark.anyio


async def test_every_change_sends_one_signed_event(
    hooked: httpx.AsyncClient, receiver: Receiver
) -> None:
    authorized = (await authorize(hooked, key="auth-1")).json()
    await post(hooked, f"/v1/authorizations/{authorized['id']}/capture", {}, "capture-1")
    # A stored failure changes nothing, so it says nothing.
    refused = await post(hooked, f"/v1/authorizations/{authorized['id']}/void", {}, "void-late")
    assert refused.status_code == 409
    to_void = (await authorize(hooked, key="auth-2")).json()["id"]
    await post(hooked, f"/v1/authorizations/{to_void}/void", {}, "void-1")
    await authorize(hooked, key="declined", payment_method="pm_card_visa_chargeDeclined")
    await authorize(hooked, key="auth-capture", capture=True)

    stats = await flush(hooked)
    assert (stats["pending"], stats["delivered"], stats["attempts"]) == (0, 6, 6)
    assert summary(receiver.received()) == Counter(
        {
            ("authorization.succeeded", "auth-1", "authorize"): 1,
            ("authorization.captured", "capture-1", "capture"): 1,
            ("authorization.succeeded", "auth-2", "authorize"): 1,
            ("authorization.voided", "void-1", "void"): 1,
            ("authorization.failed", "declined", "authorize"): 1,
            ("authorization.captured", "auth-capture", "authorize"): 1,
        }
    )
    voided = next(r.event for r in receiver.received() if r.event["type"].endswith("voided"))
    current = (await hooked.get(f"/v1/authorizations/{to_void}")).json()
    assert voided["data"] == {**current, "idempotency_key": "void-1", "operation": "void"}
    assert voided["id"].startswith("evt_psp_")
    assert isinstance(voided["created"], int)


async def test_refund_and_dispute_events(hooked: httpx.AsyncClient, receiver: Receiver) -> None:
    authorization_id = (await authorize(hooked, key="charge", capture=True)).json()["id"]
    await post(hooked, f"/v1/authorizations/{authorization_id}/refunds", {"amount": 100}, "r-ok")
    await hooked.post("/admin/refund_behavior", json={"mode": "fail"})
    await post(hooked, f"/v1/authorizations/{authorization_id}/refunds", {"amount": 1}, "r-fail")
    dispute = await hooked.post("/admin/disputes", json={"authorization": authorization_id})
    await post(hooked, f"/v1/disputes/{dispute.json()['id']}/evidence", {"submit": True}, "ev")
    await hooked.post(f"/admin/disputes/{dispute.json()['id']}/status", json={"status": "won"})

    await flush(hooked)
    events = [verified(request) for request in receiver.received()]
    assert summary(receiver.received()) == Counter(
        {
            ("authorization.captured", "charge", "authorize"): 1,
            ("refund.succeeded", "r-ok", None): 1,
            ("refund.failed", "r-fail", None): 1,
            ("chargeback.opened", None, None): 1,
            ("chargeback.updated", None, None): 1,
            ("chargeback.won", None, None): 1,
        }
    )
    won = next(event for event in events if event["type"] == "chargeback.won")
    assert won["data"] == (await hooked.get(f"/v1/disputes/{dispute.json()['id']}")).json()
    assert won["data"]["merchant_reference"] == "order_1"


async def test_pending_refunds_settle_and_notify_without_being_read(
    hooked: httpx.AsyncClient, receiver: Receiver
) -> None:
    authorization_id = (await authorize(hooked, key="charge", capture=True)).json()["id"]
    refunds = f"/v1/authorizations/{authorization_id}/refunds"
    await hooked.post(
        "/admin/refund_behavior", json={"mode": "pending_then_succeed", "delay_seconds": 0.2}
    )
    await post(hooked, refunds, {"amount": 100}, "late-ok")
    await hooked.post(
        "/admin/refund_behavior", json={"mode": "pending_then_fail", "delay_seconds": 0.2}
    )
    await post(hooked, refunds, {"amount": 100}, "late-fail")
    await hooked.post(
        "/admin/refund_behavior", json={"mode": "pending_then_succeed", "delay_seconds": 60}
    )
    to_cancel = (await post(hooked, refunds, {"amount": 100}, "cancel-me")).json()["id"]
    await post(hooked, f"/v1/refunds/{to_cancel}/cancel", {}, "cancel")

    # Only the sweeper can settle them now: nothing reads a refund from here on.
    received = await receiver.wait_for(7)
    assert summary(received) == Counter(
        {
            ("authorization.captured", "charge", "authorize"): 1,
            ("refund.pending", "late-ok", None): 1,
            ("refund.succeeded", "late-ok", None): 1,
            ("refund.pending", "late-fail", None): 1,
            ("refund.failed", "late-fail", None): 1,
            ("refund.pending", "cancel-me", None): 1,
            ("refund.canceled", "cancel", None): 1,
        }
    )
    failed = next(r.event["data"] for r in received if r.event["type"] == "refund.failed")
    assert failed["failure_reason"] == "insufficient_funds"


async def test_a_receiver_that_is_down_gets_the_event_once_it_is_up(
    hooked: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.status = 503
    await authorize(hooked, key="while-down")
    await receiver.wait_for(3)  # the first attempt and two retries, 0.2 s then 0.4 s later
    assert (await flush(hooked, wait=0))["pending"] == 1
    receiver.status = 200
    stats = await flush(hooked)
    assert (stats["pending"], stats["delivered"]) == (0, 1)
    received = receiver.received()
    assert stats["attempts"] == len(received) >= 4
    assert len({request.headers["webhook-id"] for request in received}) == 1
    assert all(verified(request)["data"]["idempotency_key"] == "while-down" for request in received)


async def test_duplicates_repeat_the_webhook_id(
    hooked: httpx.AsyncClient, receiver: Receiver
) -> None:
    await set_webhook_faults(hooked, duplicate_rate=1)
    for _ in range(3):
        await authorize(hooked)
    stats = await flush(hooked)
    assert (stats["delivered"], stats["duplicates_sent"]) == (3, 3)
    ids = Counter(verified(request)["id"] for request in receiver.received())
    assert len(ids) == 3
    assert set(ids.values()) == {2}


async def test_dropped_events_never_arrive(hooked: httpx.AsyncClient, receiver: Receiver) -> None:
    await set_webhook_faults(hooked, drop_rate=1)
    for _ in range(3):
        await authorize(hooked)
    stats = await flush(hooked)
    assert stats == {
        "pending": 0,
        "delivered": 0,
        "dropped": 3,
        "duplicates_sent": 0,
        "attempts": 0,
    }
    await asyncio.sleep(0.1)
    assert receiver.received() == []
    # A reset restores faithful delivery.
    assert (await hooked.post("/admin/reset")).status_code == 200
    assert (await hooked.get("/admin/webhook_faults")).json()["drop_rate"] == 0
    await authorize(hooked)
    assert (await flush(hooked))["delivered"] == 1


async def test_reordering_delivers_everything_out_of_order(
    hooked: httpx.AsyncClient, receiver: Receiver
) -> None:
    await set_webhook_faults(hooked, reorder=True)
    created = [
        (await authorize(hooked, merchant_reference=f"o{i}")).json()["id"] for i in range(20)
    ]
    stats = await flush(hooked)
    assert stats["delivered"] == 20
    arrived = [verified(request)["data"]["id"] for request in receiver.received()]
    assert sorted(arrived) == sorted(created)
    assert arrived != created


async def test_a_rotated_secret_signs_from_the_next_send(
    hooked: httpx.AsyncClient, receiver: Receiver
) -> None:
    await authorize(hooked, key="before")
    await flush(hooked)
    new_secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    response = await hooked.post("/admin/webhooks", json={"secret": new_secret})
    assert response.json() == {"url": receiver.url, "secret_set": True}
    assert new_secret not in (await hooked.get("/admin/webhooks")).text
    await authorize(hooked, key="after")
    await flush(hooked)

    before, after = receiver.received()
    assert verified(before)["data"]["idempotency_key"] == "before"
    assert verified(after, new_secret)["data"]["idempotency_key"] == "after"
    with pytest.raises(WebhookVerificationError):
        verified(after)


@pytest.mark.parametrize(
    "body",
    [
        {"secret": "not-a-secret"},
        {"secret": "whsec_c2hvcnQ="},
        {"secret": None},
        {"url": "ftp://x"},
    ],
)
async def test_bad_webhook_settings_are_refused(client: httpx.AsyncClient, body: object) -> None:
    response = await client.post("/admin/webhooks", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parameter_invalid"
    assert (await client.get("/admin/webhooks")).json() == {"url": None, "secret_set": True}


async def test_events_wait_in_the_outbox_across_a_restart(
    settings: Settings, receiver: Receiver
) -> None:
    # No URL yet: events are recorded, not sent; a stored failure records none.
    first = create_app(settings)
    async with first.router.lifespan_context(first), simulator_client(first) as client:
        await authorize(client, key="before-restart")
        missing = await client.post("/admin/disputes", json={"authorization": "psp_missing"})
        assert missing.status_code == 404
        assert (await flush(client, wait=0.1))["pending"] == 1

    second = create_app(settings.model_copy(update={"webhook_url": receiver.url}))
    async with second.router.lifespan_context(second), simulator_client(second) as client:
        assert (await flush(client))["delivered"] == 1
    (request,) = receiver.received()
    assert verified(request)["data"]["idempotency_key"] == "before-restart"
