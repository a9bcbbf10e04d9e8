"""Maker-checker on the running platform: a large refund asked for by an operator waits for a
second operator, approving runs it once through the refund use case, and operators' money
movements are audited under their own names."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from tests.e2e.support import api, query, stripe_client

THRESHOLD = 100_000  # PAYPLANE_REFUND_APPROVAL_THRESHOLD's default


def _operator(client: httpx.Client, email: str, *roles: str) -> tuple[str, str]:
    form = {f"roles[{i}]": role for i, role in enumerate(roles)}
    response = client.post("/v1/operators", data={"email": email, **form})
    assert response.status_code == 200, response.text
    return response.json()["id"], response.json()["token"]


def _as(platform: Any, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=platform.api_url, timeout=30, headers={"Authorization": f"Bearer {token}"}
    )


def _audit(platform: Any, merchant_id: str, action: str) -> list[dict[str, Any]]:
    return query(
        platform,
        "SELECT * FROM audit_log WHERE merchant_id = %s AND action = %s ORDER BY id",
        merchant_id,
        action,
    )


def test_a_large_refund_runs_once_after_a_second_operator_approves(platform) -> None:
    merchant_id, secret = platform.new_merchant("approvals")
    owner = api(platform, secret)
    maker_id, maker_token = _operator(owner, "maker@shop.test", "operations")
    checker_id, checker_token = _operator(owner, "checker@shop.test", "operations")
    maker, checker = _as(platform, maker_token), _as(platform, checker_token)
    intent = stripe_client(platform, secret).v1.payment_intents.create(
        params={
            "amount": 400_000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )

    held = maker.post("/v1/refunds", data={"payment_intent": intent.id, "amount": "150000"})
    assert held.status_code == 202, held.text
    approval = held.json()["id"]
    assert maker.post(f"/v1/approval_requests/{approval}/approve").status_code == 403

    def approve(_: int) -> int:
        with _as(platform, checker_token) as client:
            return client.post(f"/v1/approval_requests/{approval}/approve").status_code

    with ThreadPoolExecutor(2) as pool:
        statuses = list(pool.map(approve, range(2)))
    assert set(statuses) <= {200, 409}  # 409: the other approve was still running it
    decided = checker.post(f"/v1/approval_requests/{approval}/approve").json()
    assert decided["status"] == "approved"
    assert decided["decided_by"] == f"operator:{checker_id}"
    refund = decided["result"]
    assert (refund["object"], refund["amount"], refund["status"]) == (
        "refund",
        150_000,
        "succeeded",
    )
    refunds = query(
        platform, "SELECT id, amount FROM refunds WHERE payment_intent_id = %s", intent.id
    )
    assert refunds == [{"id": refund["id"], "amount": 150_000}]

    # Who did what: the maker asked, the checker approved and (under the approval's own
    # idempotency key) made the refund.
    (asked,) = _audit(platform, merchant_id, "approval_request.create")
    assert asked["actor"] == f"operator:{maker_id}"
    (approved,) = _audit(platform, merchant_id, "approval_request.approve")
    assert approved["actor"] == f"operator:{checker_id}"
    (made,) = _audit(platform, merchant_id, "refund.create")
    assert made["actor"] == f"operator:{checker_id}"
    assert made["idempotency_key"] == f"payplane:approval:{approval}"

    # At or below the threshold an operator refunds directly; a secret key is never held.
    small = maker.post("/v1/refunds", data={"payment_intent": intent.id, "amount": str(THRESHOLD)})
    assert (small.status_code, small.json()["object"]) == (200, "refund")
    large = owner.post("/v1/refunds", data={"payment_intent": intent.id, "amount": "150000"})
    assert (large.status_code, large.json()["status"]) == (200, "succeeded")
    actors = [row["actor"] for row in _audit(platform, merchant_id, "refund.create")]
    assert actors[:2] == [f"operator:{checker_id}", f"operator:{maker_id}"]
    assert actors[2].startswith("api_key:")
    refreshed = owner.get(f"/v1/payment_intents/{intent.id}").json()
    assert refreshed["amount_refunded"] == 400_000


def test_operations_capture_and_cancel_but_support_cannot(platform) -> None:
    merchant_id, secret = platform.new_merchant("manual capture")
    owner = api(platform, secret)
    ops_id, ops_token = _operator(owner, "ops@shop.test", "operations")
    _, support_token = _operator(owner, "support@shop.test", "support")
    ops, support = _as(platform, ops_token), _as(platform, support_token)
    sdk = stripe_client(platform, secret)
    intents = [
        sdk.v1.payment_intents.create(
            params={
                "amount": 5_000,
                "currency": "eur",
                "payment_method": "pm_card_visa",
                "capture_method": "manual",
                "confirm": True,
            }
        )
        for _ in range(2)
    ]
    assert support.get(f"/v1/payment_intents/{intents[0].id}").json()["status"] == (
        "requires_capture"
    )
    refused = support.post(f"/v1/payment_intents/{intents[0].id}/capture")
    assert refused.status_code == 403
    assert "payment_intents: capture" in refused.json()["error"]["message"]
    assert ops.post("/v1/payment_intents", data={"amount": 100, "currency": "eur"}).status_code == (
        403
    )

    captured = ops.post(f"/v1/payment_intents/{intents[0].id}/capture")
    assert captured.json()["status"] == "succeeded"
    canceled = ops.post(f"/v1/payment_intents/{intents[1].id}/cancel")
    assert canceled.json()["status"] == "canceled"
    rows = query(
        platform,
        "SELECT action, actor FROM audit_log WHERE merchant_id = %s AND object_id = ANY(%s) "
        "AND actor LIKE 'operator:%%' ORDER BY id",
        merchant_id,
        [i.id for i in intents],
    )
    assert [(row["action"], row["actor"]) for row in rows] == [
        (action, f"operator:{ops_id}")
        for action in (
            "payment_intent.capture",
            "payment_intent.capture.succeeded",
            "payment_intent.void",  # canceling an authorization voids it at the PSP
            "payment_intent.void.succeeded",
        )
    ]
    denied = _audit(platform, merchant_id, "access.denied")
    assert [row["detail"]["permission"] for row in denied] == [
        "payment_intents: capture",
        "payment_intents: write",
    ]
