"""Restricted keys, operators, denials and approval requests through the real app, on the
session's PostgreSQL. Refunds that reach the PSP are in tests/e2e/test_approvals.py."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from access_support import (
    api_client,
    audit_rows,
    auth,
    merchant,
    operator,
    restricted_key,
)
from fastapi.testclient import TestClient
from pg_support import insert_intent
from psycopg.rows import dict_row


@pytest.fixture(scope="module")
def client(database_url: str) -> Iterator[TestClient]:
    # No lookup cache: a revoked credential must fail on its very next request.
    with api_client(database_url, auth_cache_seconds=0) as api:
        yield api


def _rows(database_url: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def _captured_intent(database_url: str, merchant_id: str, amount: int) -> str:
    with psycopg.connect(database_url, autocommit=True) as conn:
        intent_id = insert_intent(conn, merchant_id, amount=amount, status="succeeded")
        conn.execute(
            "UPDATE payment_intents SET amount_received = amount WHERE id = %s", (intent_id,)
        )
    return intent_id


def test_restricted_key_lifecycle(client: TestClient, database_url: str) -> None:
    merchant_id, secret = merchant(database_url)
    created = client.post(
        "/v1/restricted_keys",
        data={"name": "reporting", "permissions[refunds]": "read", "permissions[events]": "read"},
        headers={**auth(secret), "Idempotency-Key": "rk-1"},
    )
    assert created.status_code == 200, created.text
    key = created.json()
    assert key["object"] == "restricted_key"
    assert key["permissions"] == {"refunds": "read", "events": "read"}
    assert key["secret"].startswith("rk_test_")
    assert key["last4"] == key["secret"][-4:]
    assert key["created_by"].startswith("api_key:")

    # Stored as a hash only, and a replay does not show the secret again.
    stored = _rows(database_url, "SELECT * FROM api_keys WHERE id = %s", key["id"])[0]
    assert bytes(stored["secret_hash"]) == hashlib.sha256(key["secret"].encode()).digest()
    assert key["secret"] not in str(stored)
    kept = _rows(
        database_url,
        "SELECT response_body::text AS body FROM idempotency_keys WHERE merchant_id = %s",
        merchant_id,
    )
    assert kept
    assert all(key["secret"] not in row["body"] for row in kept)
    replay = client.post(
        "/v1/restricted_keys",
        data={"name": "reporting", "permissions[refunds]": "read", "permissions[events]": "read"},
        headers={**auth(secret), "Idempotency-Key": "rk-1"},
    )
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == key["id"]
    assert "secret" not in replay.json()

    rk = key["secret"]
    assert client.get("/v1/refunds", headers=auth(rk)).status_code == 200
    refused = client.post("/v1/refunds", data={"payment_intent": "pi_x"}, headers=auth(rk))
    assert refused.status_code == 403
    assert "Having the 'refunds: write' permission" in refused.json()["error"]["message"]
    listed = client.get("/v1/restricted_keys", headers=auth(secret)).json()
    assert [k["id"] for k in listed["data"]] == [key["id"]]
    assert "secret" not in listed["data"][0]

    revoked = client.delete(f"/v1/restricted_keys/{key['id']}", headers=auth(secret))
    assert revoked.json() == {"id": key["id"], "object": "restricted_key", "deleted": True}
    assert client.get("/v1/refunds", headers=auth(rk)).status_code == 401
    gone = client.get(f"/v1/restricted_keys/{key['id']}", headers=auth(secret))
    assert gone.status_code == 404
    assert client.get("/v1/restricted_keys", headers=auth(secret)).json()["data"] == []
    assert [r["action"] for r in audit_rows(database_url, merchant_id, "restricted_key.revoke")]


@pytest.mark.parametrize(
    ("form", "param"),
    [
        ({"name": "x"}, "permissions"),
        ({"permissions[refunds]": "write"}, "name"),
        ({"name": "x", "permissions[charges]": "read"}, "permissions[charges]"),
        ({"name": "x", "permissions[operators]": "write"}, "permissions[operators]"),
        ({"name": "x", "permissions[balance]": "write"}, "permissions[balance]"),
        ({"name": "x", "permissions[approval_requests]": "write"}, "permissions[approval_req"),
    ],
)
def test_bad_restricted_keys_are_refused(
    client: TestClient, database_url: str, form: dict[str, str], param: str
) -> None:
    merchant_id, secret = merchant(database_url)
    response = client.post("/v1/restricted_keys", data=form, headers=auth(secret))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"].startswith(param)
    kinds = _rows(database_url, "SELECT kind FROM api_keys WHERE merchant_id = %s", merchant_id)
    assert kinds == [{"kind": "secret"}]


def test_operators_and_their_roles(client: TestClient, database_url: str) -> None:
    merchant_id, secret = merchant(database_url)
    admin_id, admin = operator(client, secret, "Admin@Example.com", "admin")
    assert admin.startswith("op_")
    shown = client.get(f"/v1/operators/{admin_id}", headers=auth(admin)).json()
    assert (shown["email"], shown["roles"]) == ("admin@example.com", ["admin"])
    stored = _rows(database_url, "SELECT * FROM operators WHERE id = %s", admin_id)[0]
    assert bytes(stored["token_hash"]) == hashlib.sha256(admin.encode()).digest()

    duplicate = client.post(
        "/v1/operators",
        data={"email": "admin@example.COM", "roles[0]": "support"},
        headers=auth(secret),
    )
    assert duplicate.status_code == 400
    assert duplicate.json()["error"]["code"] == "resource_already_exists"

    # An admin manages people and keys but moves no money...
    support_id, support = operator(client, admin, "support@example.com", "support")
    rk = restricted_key(client, admin, {"payment_intents": "read"})
    assert client.get("/v1/payment_intents", headers=auth(rk)).status_code == 200
    assert client.post("/v1/refunds", headers=auth(admin)).status_code == 403
    assert client.get("/v1/payment_intents", headers=auth(admin)).status_code == 403
    created = audit_rows(database_url, merchant_id, "operator.create")
    assert created[-1]["actor"] == f"operator:{admin_id}"
    assert created[-1]["detail"] == {"email": "support@example.com", "roles": ["support"]}

    # ...until it is given operations as well.
    changed = client.post(
        f"/v1/operators/{admin_id}",
        data={"roles[0]": "admin", "roles[1]": "operations"},
        headers=auth(secret),
    )
    assert changed.json()["roles"] == ["admin", "operations"]
    assert client.post("/v1/refunds", headers=auth(admin)).status_code == 400  # missing param

    assert client.get("/v1/events", headers=auth(support)).status_code == 200
    deleted = client.delete(f"/v1/operators/{support_id}", headers=auth(admin))
    assert deleted.json()["deleted"] is True
    assert client.get("/v1/events", headers=auth(support)).status_code == 401
    emails = [o["email"] for o in client.get("/v1/operators", headers=auth(secret)).json()["data"]]
    assert emails == ["admin@example.com"]


def test_denials_are_audited_with_actor_reason_and_request_id(
    client: TestClient, database_url: str
) -> None:
    merchant_id, secret = merchant(database_url)
    support_id, support = operator(client, secret, "s@example.com", "support")
    refused = client.post("/v1/refunds", data={"payment_intent": "pi_x"}, headers=auth(support))
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "permission_denied"
    assert error["message"] == (
        f"The operator 's@example.com' (roles: support) does not have the required permissions "
        f"for this endpoint on account '{merchant_id}'. The 'refunds: write' permission, which "
        "the operations role has, would allow this request."
    )
    (row,) = audit_rows(database_url, merchant_id, "access.denied")
    assert row["actor"] == f"operator:{support_id}"
    assert row["request_id"] == refused.headers["request-id"]
    assert row["reason"] == error["message"]
    assert row["detail"] == {
        "permission": "refunds: write",
        "method": "POST",
        "path": "/v1/refunds",
    }

    # The path is kept, but never a card number in it.
    path = "/v1/payment_intents/4242424242424242/capture"
    assert client.post(path, headers=auth(support)).status_code == 403
    stored = audit_rows(database_url, merchant_id, "access.denied")[-1]["detail"]["path"]
    assert stored.startswith("/v1/payment_intents/")
    assert "4242424242424242" not in stored


def test_internal_idempotency_keys_are_reserved(client: TestClient, database_url: str) -> None:
    _, secret = merchant(database_url)
    response = client.post(
        "/v1/refunds",
        data={"payment_intent": "pi_x"},
        headers={**auth(secret), "Idempotency-Key": "payplane:approval:apr_x"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_invalid"


def test_large_refunds_by_operators_and_restricted_keys_wait_for_approval(
    client: TestClient, database_url: str
) -> None:
    merchant_id, secret = merchant(database_url)
    intent = _captured_intent(database_url, merchant_id, 300_000)
    maker_id, maker = operator(client, secret, "maker@example.com", "operations")
    _, checker = operator(client, secret, "checker@example.com", "operations")
    held = client.post(
        "/v1/refunds",
        data={"payment_intent": intent, "amount": "150000", "reason": "requested_by_customer"},
        headers={**auth(maker), "Idempotency-Key": "big-1"},
    )
    assert held.status_code == 202, held.text
    request = held.json()
    assert request["id"].startswith("apr_")
    assert (request["object"], request["action"], request["status"]) == (
        "approval_request",
        "refund.create",
        "pending",
    )
    assert request["requested_by"] == f"operator:{maker_id}"
    assert request["params"] == {
        "payment_intent": intent,
        "amount": 150_000,
        "currency": "usd",
        "reason": "requested_by_customer",
        "metadata": {},
    }
    again = client.post(
        "/v1/refunds",
        data={"payment_intent": intent, "amount": "150000", "reason": "requested_by_customer"},
        headers={**auth(maker), "Idempotency-Key": "big-1"},
    )
    assert (again.status_code, again.json()["id"]) == (202, request["id"])
    # Nothing is reserved or refunded while it waits.
    (stored,) = _rows(database_url, "SELECT * FROM payment_intents WHERE id = %s", intent)
    assert stored["amount_refunded"] == 0
    assert _rows(database_url, "SELECT id FROM refunds WHERE payment_intent_id = %s", intent) == []

    own = client.post(f"/v1/approval_requests/{request['id']}/approve", headers=auth(maker))
    assert own.status_code == 403
    assert own.json()["error"]["code"] == "approval_by_requester"
    assert own.json()["error"]["message"].startswith(f"You requested {request['id']} yourself")

    denied = client.post(
        f"/v1/approval_requests/{request['id']}/deny",
        data={"reason": "duplicate of a refund made by phone"},
        headers=auth(checker),
    )
    assert denied.json()["status"] == "denied"
    assert denied.json()["reason"] == "duplicate of a refund made by phone"
    late = client.post(f"/v1/approval_requests/{request['id']}/approve", headers=auth(checker))
    assert late.status_code == 400
    assert late.json()["error"]["code"] == "approval_request_unexpected_state"
    (deny_row,) = audit_rows(database_url, merchant_id, "approval_request.deny")
    assert deny_row["reason"] == "duplicate of a refund made by phone"
    assert audit_rows(database_url, merchant_id, "approval_request.create")[0]["actor"] == (
        f"operator:{maker_id}"
    )

    # A restricted key's full refund: the amount held is what was left to refund.
    rk = restricted_key(client, secret, {"refunds": "write", "approval_requests": "read"})
    full = client.post("/v1/refunds", data={"payment_intent": intent}, headers=auth(rk))
    assert full.status_code == 202
    assert full.json()["params"]["amount"] == 300_000
    assert full.json()["requested_by"].startswith("restricted_key:")
    followed = client.get(f"/v1/approval_requests/{full.json()['id']}", headers=auth(rk))
    assert followed.json()["status"] == "pending"
    pending = client.get("/v1/approval_requests?status=pending", headers=auth(checker)).json()
    assert [r["id"] for r in pending["data"]] == [full.json()["id"]]


def test_no_credential_reaches_another_merchants_objects(
    client: TestClient, database_url: str
) -> None:
    a_id, a_secret = merchant(database_url, "tenant a")
    a_operator_id, a_ops = operator(client, a_secret, "ops@a.example", "operations")
    a_key = client.post(
        "/v1/restricted_keys",
        data={"name": "a", "permissions[refunds]": "write"},
        headers=auth(a_secret),
    ).json()
    a_intent = _captured_intent(database_url, a_id, 500_000)
    approval = client.post(
        "/v1/refunds", data={"payment_intent": a_intent, "amount": "200000"}, headers=auth(a_ops)
    ).json()

    _, b_secret = merchant(database_url, "tenant b")
    _, b_admin = operator(client, b_secret, "admin@b.example", "admin", "operations", "support")
    b_grants = {"payment_intents": "write", "refunds": "write", "approval_requests": "read"}
    b_key = restricted_key(client, b_secret, b_grants)
    everything = {
        ("GET", f"/v1/restricted_keys/{a_key['id']}"),
        ("GET", f"/v1/operators/{a_operator_id}"),
        ("GET", f"/v1/approval_requests/{approval['id']}"),
        ("GET", f"/v1/payment_intents/{a_intent}"),
        ("DELETE", f"/v1/restricted_keys/{a_key['id']}"),
        ("DELETE", f"/v1/operators/{a_operator_id}"),
        ("POST", f"/v1/approval_requests/{approval['id']}/approve"),
        ("POST", f"/v1/approval_requests/{approval['id']}/deny"),
    }
    decisions = {(m, p) for m, p in everything if p.endswith(("/approve", "/deny"))}
    # Each of B's credentials, on every A object its permissions would reach: not found.
    reach = {
        b_secret: everything - decisions,
        b_admin: everything,
        b_key: {
            ("GET", f"/v1/approval_requests/{approval['id']}"),
            ("GET", f"/v1/payment_intents/{a_intent}"),
        },
    }
    for b, requests in reach.items():
        for method, path in requests:
            response = client.request(method, path, headers=auth(b))
            assert response.status_code == 404, (method, path, response.text)
        refund = client.post("/v1/refunds", data={"payment_intent": a_intent}, headers=auth(b))
        assert refund.status_code == 404, refund.text
    for path in ("/v1/restricted_keys", "/v1/operators", "/v1/approval_requests"):
        for b in (b_secret, b_admin):
            ids = {o["id"] for o in client.get(path, headers=auth(b)).json()["data"]}
            assert not ids & {a_key["id"], a_operator_id, approval["id"]}, path
    # A's objects are untouched, and A still sees them.
    for path in (f"/v1/restricted_keys/{a_key['id']}", f"/v1/operators/{a_operator_id}"):
        assert client.get(path, headers=auth(a_secret)).status_code == 200
    kept = client.get(f"/v1/approval_requests/{approval['id']}", headers=auth(a_secret)).json()
    assert kept["status"] == "pending"
    assert _rows(database_url, "SELECT id FROM approval_requests WHERE merchant_id = %s", a_id) == [
        {"id": approval["id"]}
    ]
