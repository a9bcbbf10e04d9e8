"""Remediation write-offs under maker-checker, through the real app: a platform operator's
write-off waits for another platform operator, runs once on approval, and a merchant's
credentials never reach the platform's queue."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from access_support import api_client, audit_rows, auth, merchant, operator, restricted_key
from fastapi.testclient import TestClient
from psycopg.rows import dict_row
from recon_support import TODAY, Books, Line, breaks_by_type, report

from payplane.domain.access import PLATFORM_ACCOUNT
from payplane.domain.ids import new_id

TOKEN = "write-off-operator-token-" + new_id("t")


@pytest.fixture(scope="module")
def client(database_url: str) -> Iterator[TestClient]:
    with api_client(database_url, operator_token=TOKEN) as api:
        yield api


def _mismatch(database_url: str) -> dict[str, Any]:
    """A remediation item holding 5 usd in suspense: the PSP settled 1005 for a 1000 capture."""
    books = Books(database_url)
    paid = books.capture(1000)
    books.reports.by_day[TODAY] = report(
        [Line("Settled", paid.psp_reference, paid.intent, paid.psp_reference, 1005)]
    )
    item: dict[str, Any] = breaks_by_type(books.reconcile())["amount_mismatch"][0]
    return item


def _platform_operator(client: TestClient, role: str) -> tuple[str, str]:
    return operator(client, TOKEN, f"{role}-{new_id('p', 8)}@platform.test", role)


def _write_off_journals(database_url: str, item_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT j.journal_id FROM remediation_item_journals j "
            "JOIN ledger_journals lj ON lj.id = j.journal_id "
            "WHERE j.item_id = %s AND lj.kind = 'write_off'",
            (item_id,),
        ).fetchall()


def test_a_write_off_waits_for_a_second_platform_operator(
    client: TestClient, database_url: str
) -> None:
    item = _mismatch(database_url)
    maker_id, maker = _platform_operator(client, "operations")
    checker_id, checker = _platform_operator(client, "operations")
    path = f"/v1/remediation/items/{item['id']}"

    held = client.post(f"{path}/write_off", data={"reason": "PSP rounding"}, headers=auth(maker))
    assert held.status_code == 202, held.text
    request = held.json()
    assert (request["action"], request["status"]) == ("remediation.write_off", "pending")
    assert request["params"] == {"item": item["id"], "reason": "PSP rounding"}
    assert request["requested_by"] == f"operator:{maker_id}"
    assert client.get(path, headers=auth(maker)).json()["status"] == item["status"]
    assert _write_off_journals(database_url, item["id"]) == []

    approve = f"/v1/approval_requests/{request['id']}/approve"
    own = client.post(approve, headers=auth(maker))
    assert (own.status_code, own.json()["error"]["code"]) == (403, "approval_by_requester")
    approved = client.post(approve, headers=auth(checker)).json()
    assert approved["status"] == "approved"
    assert approved["result"]["id"] == item["id"]
    assert approved["result"]["status"] == "written_off"
    again = client.post(approve, headers=auth(checker)).json()
    assert again["result"] == approved["result"]
    assert len(_write_off_journals(database_url, item["id"])) == 1
    # The platform account is shared by every test: only this item's rows are this test's.
    (written,) = [
        row
        for row in audit_rows(database_url, PLATFORM_ACCOUNT, "remediation_item.write_off")
        if row["object_id"] == item["id"]
    ]
    assert written["actor"] == f"operator:{checker_id}"
    assert written["idempotency_key"] == f"payplane:approval:{request['id']}"

    # An unknown item is refused at once, not at approval.
    missing = client.post(
        "/v1/remediation/items/rem_missing/write_off",
        data={"reason": "x"},
        headers=auth(maker),
    )
    assert missing.status_code == 404


def test_the_operator_token_writes_off_directly(client: TestClient, database_url: str) -> None:
    item = _mismatch(database_url)
    done = client.post(
        f"/v1/remediation/items/{item['id']}/write_off",
        data={"reason": "below the noise"},
        headers=auth(TOKEN),
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "written_off"


def test_merchant_credentials_never_reach_the_platform_queue(
    client: TestClient, database_url: str
) -> None:
    item = _mismatch(database_url)
    _, secret = merchant(database_url, "not the platform")
    _, merchant_ops = operator(client, secret, "ops@merchant.test", "operations", "finance")
    refused = client.post(
        "/v1/restricted_keys",
        data={"name": "recon", "permissions[remediation]": "write"},
        headers=auth(secret),
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "permissions[remediation]"
    for credential in (secret, merchant_ops):
        for method, path in (
            ("GET", "/v1/remediation/items"),
            ("GET", f"/v1/remediation/items/{item['id']}"),
            ("POST", f"/v1/remediation/items/{item['id']}/write_off"),
            ("GET", "/v1/reconciliation/runs"),
        ):
            response = client.request(method, path, headers=auth(credential))
            assert response.status_code == 403, (method, path)
            assert "only the platform account's credentials" in response.json()["error"]["message"]
    # A platform restricted key may be given them.
    key = restricted_key(client, TOKEN, {"remediation": "read"})
    listed = client.get("/v1/remediation/items?limit=100", headers=auth(key))
    assert listed.status_code == 200
