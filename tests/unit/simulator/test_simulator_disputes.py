from __future__ import annotations

from typing import Any

import httpx
import pytest
from simulator_support import API_KEY, authorize, captured_id, post, stats

from psp_simulator import Settings, create_app

pytestmark = pytest.mark.anyio

WEEK = 7 * 24 * 3600
# Stripe's dispute lifecycle, written out independently of the simulator's table.
MOVES = {
    "warning_needs_response": {"warning_under_review", "warning_closed", "needs_response"},
    "warning_under_review": {"warning_closed", "needs_response"},
    "warning_closed": set(),
    "needs_response": {"under_review", "won", "lost"},
    "under_review": {"won", "lost"},
    "won": set(),
    "lost": set(),
}
# How the operator brings a fresh dispute to each status: (inquiry, moves).
ROUTES: dict[str, tuple[bool, list[str]]] = {
    "warning_needs_response": (True, []),
    "warning_under_review": (True, ["warning_under_review"]),
    "warning_closed": (True, ["warning_closed"]),
    "needs_response": (False, []),
    "under_review": (False, ["under_review"]),
    "won": (False, ["won"]),
    "lost": (False, ["lost"]),
}


async def open_dispute(client: httpx.AsyncClient, **body: object) -> httpx.Response:
    if "authorization" not in body:
        body["authorization"] = await captured_id(client)
    return await client.post("/admin/disputes", json=body)


async def set_status(client: httpx.AsyncClient, dispute_id: str, status: str) -> httpx.Response:
    return await client.post(f"/admin/disputes/{dispute_id}/status", json={"status": status})


async def dispute_at(client: httpx.AsyncClient, status: str) -> dict[str, Any]:
    inquiry, moves = ROUTES[status]
    dispute: dict[str, Any] = (await open_dispute(client, inquiry=inquiry)).json()
    for move in moves:
        response = await set_status(client, dispute["id"], move)
        assert response.status_code == 200, response.text
        dispute = response.json()
    assert dispute["status"] == status
    return dispute


async def test_a_chargeback_opens_needing_a_response(client: httpx.AsyncClient) -> None:
    authorization = (await authorize(client, amount=2500, capture=True)).json()
    response = await open_dispute(client, authorization=authorization["id"])
    assert response.status_code == 200
    dispute = response.json()
    assert dispute["id"].startswith("psd_")
    assert dispute["evidence_due_by"] == dispute["created"] + WEEK
    assert dispute["change_seq"] == 1
    assert {k: v for k, v in dispute.items() if k not in ("id", "created", "evidence_due_by")} == {
        "object": "dispute",
        "authorization": authorization["id"],
        "merchant_reference": "order_1",
        "amount": 2500,
        "currency": "usd",
        "reason": "fraudulent",
        "status": "needs_response",
        "fee": 1500,
        "evidence": {},
        "evidence_submitted": False,
        "change_seq": 1,
    }
    assert (await client.get(f"/v1/disputes/{dispute['id']}")).json() == dispute


async def test_an_inquiry_is_free_until_it_escalates(client: httpx.AsyncClient) -> None:
    dispute = (await open_dispute(client, inquiry=True, amount=400, reason="unrecognized")).json()
    assert (dispute["status"], dispute["fee"], dispute["amount"]) == (
        "warning_needs_response",
        0,
        400,
    )
    submitted = await post(client, f"/v1/disputes/{dispute['id']}/evidence", {"submit": True})
    assert submitted.json()["status"] == "warning_under_review"

    escalated = (await set_status(client, dispute["id"], "needs_response")).json()
    assert (escalated["status"], escalated["fee"]) == ("needs_response", 1500)
    # A chargeback asks for a response of its own.
    assert escalated["evidence_submitted"] is False
    assert escalated["evidence_due_by"] >= dispute["evidence_due_by"]


async def test_the_dispute_fee_is_configurable(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"dispute_fee": 999}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://psp.test",
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as client,
    ):
        assert (await open_dispute(client)).json()["fee"] == 999


async def test_only_captured_amounts_can_be_disputed(client: httpx.AsyncClient) -> None:
    authorized = (await authorize(client)).json()["id"]
    refused = await open_dispute(client, authorization=authorized)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "invalid_state")
    unknown = await open_dispute(client, authorization="psp_missing")
    assert unknown.status_code == 404
    too_large = await open_dispute(client, authorization=await captured_id(client), amount=1001)
    assert (too_large.status_code, too_large.json()["error"]["code"]) == (400, "amount_too_large")
    for invalid in ({"reason": "boredom"}, {"amount": 0}, {"inquiry": "yes"}, {"x": 1}):
        assert (await open_dispute(client, **invalid)).status_code == 400
    assert (await client.post("/admin/disputes", json={})).status_code == 400
    assert (await stats(client))["disputes"]["total"] == 0


@pytest.mark.parametrize("start", list(MOVES))
@pytest.mark.parametrize("target", list(MOVES))
async def test_status_moves_follow_stripe(
    client: httpx.AsyncClient, start: str, target: str
) -> None:
    dispute = await dispute_at(client, start)
    response = await set_status(client, dispute["id"], target)
    if target in MOVES[start]:
        assert response.status_code == 200
        assert response.json()["status"] == target
        assert response.json()["change_seq"] > dispute["change_seq"]
    else:
        assert (response.status_code, response.json()["error"]["code"]) == (409, "invalid_state")
        assert (await client.get(f"/v1/disputes/{dispute['id']}")).json() == dispute


async def test_admin_status_input_is_checked(client: httpx.AsyncClient) -> None:
    dispute = await dispute_at(client, "needs_response")
    assert (await set_status(client, dispute["id"], "pending")).status_code == 400
    assert (await set_status(client, "psd_missing", "won")).status_code == 404


async def test_evidence_merges_and_submitting_starts_the_review(
    client: httpx.AsyncClient,
) -> None:
    dispute = await dispute_at(client, "needs_response")
    path = f"/v1/disputes/{dispute['id']}/evidence"
    first = await post(
        client, path, {"evidence": {"customer_name": "A", "uncategorized_text": "x"}}
    )
    assert (first.json()["status"], first.json()["evidence_submitted"]) == ("needs_response", False)
    second = (await post(client, path, {"evidence": {"customer_name": "B"}, "submit": True})).json()
    assert second["evidence"] == {"customer_name": "B", "uncategorized_text": "x"}
    assert (second["status"], second["evidence_submitted"]) == ("under_review", True)
    assert second["change_seq"] > first.json()["change_seq"] > dispute["change_seq"]

    again = await post(client, path, {"submit": True})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "invalid_state")
    # Adding evidence without submitting is still allowed under review.
    added = await post(client, path, {"evidence": {"product_description": "mug"}})
    assert (added.status_code, added.json()["status"]) == (200, "under_review")


@pytest.mark.parametrize("status", ["won", "lost", "warning_closed"])
async def test_closed_disputes_take_no_evidence(client: httpx.AsyncClient, status: str) -> None:
    dispute = await dispute_at(client, status)
    for body in ({"evidence": {"customer_name": "A"}}, {"submit": True}):
        response = await post(client, f"/v1/disputes/{dispute['id']}/evidence", body)
        assert (response.status_code, response.json()["error"]["code"]) == (409, "invalid_state")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"evidence": {f"k{i}": "v" for i in range(21)}}, "evidence"),
        ({"evidence": {"customer_name": "x" * 20_001}}, "evidence[customer_name]"),
        ({"evidence": {"customer_name": 5}}, "evidence[customer_name]"),
        ({"evidence": ["customer_name"]}, "evidence"),
        ({"submit": "true"}, "submit"),
    ],
)
async def test_evidence_is_validated(
    client: httpx.AsyncClient, body: dict[str, object], param: str
) -> None:
    dispute = await dispute_at(client, "needs_response")
    response = await post(client, f"/v1/disputes/{dispute['id']}/evidence", body, key="e")
    assert (response.status_code, response.json()["error"]["param"]) == (400, param)
    assert (await client.get("/v1/operations/e")).status_code == 404


@pytest.mark.parametrize(
    ("status", "closed_as"),
    [
        ("needs_response", "lost"),
        ("under_review", "lost"),
        ("warning_needs_response", "warning_closed"),
        ("warning_under_review", "warning_closed"),
    ],
)
async def test_accepting_a_dispute_closes_it(
    client: httpx.AsyncClient, status: str, closed_as: str
) -> None:
    dispute = await dispute_at(client, status)
    path = f"/v1/disputes/{dispute['id']}/close"
    closed = await post(client, path, {}, key="accept")
    assert (closed.status_code, closed.json()["status"]) == (200, closed_as)
    replay = await post(client, path, {}, key="accept")
    assert (replay.content, replay.headers["idempotent-replayed"]) == (closed.content, "true")
    again = await post(client, path, {})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "invalid_state")


async def test_unknown_disputes_are_not_found(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/disputes/psd_missing")).status_code == 404
    for action, body in (("close", {}), ("evidence", {"submit": True})):
        response = await post(client, f"/v1/disputes/psd_missing/{action}", body)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


async def test_dispute_stats(client: httpx.AsyncClient) -> None:
    for status in ("needs_response", "won", "won", "warning_closed"):
        await dispute_at(client, status)
    assert (await stats(client))["disputes"] == {
        "total": 4,
        "warning_needs_response": 0,
        "warning_under_review": 0,
        "warning_closed": 1,
        "needs_response": 1,
        "under_review": 0,
        "won": 2,
        "lost": 0,
    }
