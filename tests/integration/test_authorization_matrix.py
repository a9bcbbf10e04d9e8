"""Every route of the real app, called with every kind of credential: allowed or refused as the
table below says. A route missing from the table fails the suite, so a new endpoint must be
classified here before it ships. Reconciliation and remediation span merchants: only the
platform account's credentials reach them.

Calls carry unknown ids and empty bodies: an allowed caller gets a 404 or 400 (never 401/403)
and nothing changes; a refused one gets Stripe's 403.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from access_support import ROLES, api_client, auth, merchant, operator, restricted_key
from fastapi.testclient import TestClient

from payplane.domain.access import PLATFORM_RESOURCES, RESOURCES
from payplane.domain.ids import new_id

# Columns: the merchant's secret key (sk), a restricted key with the route's permission (rk+),
# one without it (rk-, which holds every other permission and the same resource one level
# lower when there is one), an operator with each single role, another merchant's secret key
# (other: allowed, but it only ever sees its own objects), no key at all (always 401), and the
# platform account's PAYPLANE_OPERATOR_TOKEN and finance and operations operators. For the
# platform's routes, rk+ and rk- are keys of the platform account.
PLATFORM_COLUMNS = ("token", "p-finance", "p-operations")
COLUMNS = ("sk", "rk+", "rk-", *ROLES, "other", "none", *PLATFORM_COLUMNS)
OPERATOR_TOKEN = "matrix-operator-token-" + new_id("t")


@dataclass(frozen=True)
class Row:
    grant: str | None  # "resource:level" for rk+; None: restricted keys can never be given it
    allowed: str  # the columns that get through, space-separated


READ_PAYMENTS = "sk rk+ support operations other token p-operations"
MERCHANT_ONLY = "sk rk+ other token"  # keys only: no role holds these
MOVE_MONEY = "sk rk+ operations other token p-operations"
SUPPORT = "sk rk+ support other token"
FINANCE = "sk rk+ finance other token p-finance"
APPROVALS = "sk rk+ operations other token p-operations"
CREDENTIALS = "sk admin other token"
RECONCILE = "token rk+ p-finance"
REMEDIATE = "token rk+ p-operations"

MATRIX: dict[tuple[str, str], Row] = {
    ("GET", "/v1/payment_intents"): Row("payment_intents:read", READ_PAYMENTS),
    ("POST", "/v1/payment_intents"): Row("payment_intents:write", MERCHANT_ONLY),
    ("GET", "/v1/payment_intents/{intent_id}"): Row("payment_intents:read", READ_PAYMENTS),
    ("POST", "/v1/payment_intents/{intent_id}"): Row("payment_intents:write", MERCHANT_ONLY),
    ("POST", "/v1/payment_intents/{intent_id}/confirm"): Row(
        "payment_intents:write", MERCHANT_ONLY
    ),
    ("POST", "/v1/payment_intents/{intent_id}/capture"): Row("payment_intents:capture", MOVE_MONEY),
    ("POST", "/v1/payment_intents/{intent_id}/cancel"): Row("payment_intents:capture", MOVE_MONEY),
    ("GET", "/v1/payment_methods"): Row("payment_methods:read", SUPPORT),
    ("POST", "/v1/payment_methods"): Row("payment_methods:write", MERCHANT_ONLY),
    ("GET", "/v1/payment_methods/{payment_method}"): Row("payment_methods:read", SUPPORT),
    ("POST", "/v1/payment_methods/{payment_method}/attach"): Row(
        "payment_methods:write", MERCHANT_ONLY
    ),
    ("POST", "/v1/payment_methods/{payment_method}/detach"): Row(
        "payment_methods:write", MERCHANT_ONLY
    ),
    ("GET", "/v1/refunds"): Row("refunds:read", READ_PAYMENTS),
    ("POST", "/v1/refunds"): Row("refunds:write", MOVE_MONEY),
    ("GET", "/v1/refunds/{refund_id}"): Row("refunds:read", READ_PAYMENTS),
    ("POST", "/v1/refunds/{refund_id}"): Row("refunds:write", MOVE_MONEY),
    ("POST", "/v1/refunds/{refund_id}/cancel"): Row("refunds:write", MOVE_MONEY),
    ("GET", "/v1/disputes"): Row("disputes:read", SUPPORT),
    ("GET", "/v1/disputes/{dispute_id}"): Row("disputes:read", SUPPORT),
    ("POST", "/v1/disputes/{dispute_id}"): Row("disputes:write", MERCHANT_ONLY),
    ("POST", "/v1/disputes/{dispute_id}/close"): Row("disputes:write", MERCHANT_ONLY),
    ("GET", "/v1/events"): Row("events:read", SUPPORT),
    ("GET", "/v1/events/{event_id}"): Row("events:read", SUPPORT),
    ("GET", "/v1/balance"): Row("balance:read", FINANCE),
    ("GET", "/v1/ledger/accounts"): Row("ledger:read", FINANCE),
    ("GET", "/v1/ledger/accounts/{account_id}/entries"): Row("ledger:read", FINANCE),
    ("GET", "/v1/webhook_endpoints"): Row("webhook_endpoints:read", MERCHANT_ONLY),
    ("POST", "/v1/webhook_endpoints"): Row("webhook_endpoints:write", MERCHANT_ONLY),
    ("GET", "/v1/webhook_endpoints/{endpoint_id}"): Row("webhook_endpoints:read", MERCHANT_ONLY),
    ("POST", "/v1/webhook_endpoints/{endpoint_id}"): Row("webhook_endpoints:write", MERCHANT_ONLY),
    ("DELETE", "/v1/webhook_endpoints/{endpoint_id}"): Row(
        "webhook_endpoints:write", MERCHANT_ONLY
    ),
    ("POST", "/v1/webhook_endpoints/{endpoint_id}/resend"): Row(
        "webhook_endpoints:write", MERCHANT_ONLY
    ),
    ("GET", "/v1/webhook_endpoints/{endpoint_id}/deliveries"): Row(
        "webhook_endpoints:read", MERCHANT_ONLY
    ),
    ("GET", "/v1/restricted_keys"): Row(None, CREDENTIALS),
    ("POST", "/v1/restricted_keys"): Row(None, CREDENTIALS),
    ("GET", "/v1/restricted_keys/{key_id}"): Row(None, CREDENTIALS),
    ("DELETE", "/v1/restricted_keys/{key_id}"): Row(None, CREDENTIALS),
    ("GET", "/v1/operators"): Row(None, CREDENTIALS),
    ("POST", "/v1/operators"): Row(None, CREDENTIALS),
    ("GET", "/v1/operators/{operator_id}"): Row(None, CREDENTIALS),
    ("POST", "/v1/operators/{operator_id}"): Row(None, CREDENTIALS),
    ("DELETE", "/v1/operators/{operator_id}"): Row(None, CREDENTIALS),
    ("GET", "/v1/approval_requests"): Row("approval_requests:read", APPROVALS),
    ("GET", "/v1/approval_requests/{approval_id}"): Row("approval_requests:read", APPROVALS),
    # Deciding is a person's act: only operations operators, never a key.
    ("POST", "/v1/approval_requests/{approval_id}/approve"): Row(None, "operations p-operations"),
    ("POST", "/v1/approval_requests/{approval_id}/deny"): Row(None, "operations p-operations"),
    ("GET", "/v1/reconciliation/runs"): Row("reconciliation:read", RECONCILE + " p-operations"),
    ("GET", "/v1/reconciliation/runs/{run_id}"): Row(
        "reconciliation:read", RECONCILE + " p-operations"
    ),
    ("POST", "/v1/reconciliation/runs"): Row("reconciliation:write", RECONCILE),
    ("GET", "/v1/remediation/items"): Row("remediation:read", REMEDIATE),
    ("GET", "/v1/remediation/items/{item_id}"): Row("remediation:read", REMEDIATE),
    ("POST", "/v1/remediation/items/{item_id}/assign"): Row("remediation:write", REMEDIATE),
    ("POST", "/v1/remediation/items/{item_id}/notes"): Row("remediation:write", REMEDIATE),
    ("POST", "/v1/remediation/items/{item_id}/review"): Row("remediation:write", REMEDIATE),
    ("POST", "/v1/remediation/items/{item_id}/resolve"): Row("remediation:write", REMEDIATE),
    ("POST", "/v1/remediation/items/{item_id}/write_off"): Row("remediation:write", REMEDIATE),
}

# Routes without API keys: documentation, probes, PSP webhooks (signed) and the customer's
# return from a redirect (its attempt id is the capability).
PUBLIC = {
    ("GET", "/docs"),
    ("HEAD", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("HEAD", "/docs/oauth2-redirect"),
    ("GET", "/openapi.json"),
    ("HEAD", "/openapi.json"),
    ("GET", "/redoc"),
    ("HEAD", "/redoc"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/psp-webhooks/{connector}"),
    ("GET", "/redirect/return/{attempt_id}"),
}


def app_routes(routes: list[Any]) -> set[tuple[str, str]]:
    """(method, path) of every route, routers included by the app walked through."""
    found: set[tuple[str, str]] = set()
    for route in routes:
        if hasattr(route, "effective_route_contexts"):  # an included router
            contexts = list(route.effective_route_contexts())
            found |= {(m, c.path) for c in contexts for m in c.methods}
        else:
            found |= {(m, route.path) for m in route.methods}
    return found


def _max_key(platform: bool) -> dict[str, str]:
    """Every permission a restricted key of the account may hold, at its highest level."""
    grants = {r: levels[-1] for r, levels in RESOURCES.items()}
    del grants["restricted_keys"], grants["operators"]
    grants["approval_requests"] = "read"
    if not platform:
        for resource in PLATFORM_RESOURCES:
            del grants[resource]
    return grants


def _without(grant: str) -> dict[str, str]:
    resource, level = grant.split(":")
    grants = _max_key(resource in PLATFORM_RESOURCES)
    levels = RESOURCES[resource]
    below = levels.index(level) - 1
    if below >= 0:
        grants[resource] = levels[below]
    else:
        del grants[resource]
    return grants


@dataclass
class Callers:
    client: TestClient
    secrets: dict[str, str | None]  # column -> credential, for the columns that do not vary
    keys: dict[tuple[str, bool], str]  # (grant, with it) -> restricted key

    def secret(self, column: str, row: Row) -> str | None:
        if column in ("rk+", "rk-"):
            grant = row.grant or "max"
            return self.keys[(grant, column == "rk+")]
        return self.secrets[column]


@pytest.fixture(scope="module")
def callers(database_url: str) -> Iterator[Callers]:
    with api_client(database_url, operator_token=OPERATOR_TOKEN) as client:
        merchant_id, secret = merchant(database_url, "matrix")
        _, other_secret = merchant(database_url, "matrix other")
        secrets: dict[str, str | None] = {"sk": secret, "other": other_secret, "none": None}
        for role in ROLES:
            secrets[role] = operator(client, secret, f"{role}@{merchant_id}.test", role)[1]
        secrets["token"] = OPERATOR_TOKEN
        for role in ("finance", "operations"):
            email = f"{role}-{new_id('m', 8)}@platform.test"
            secrets[f"p-{role}"] = operator(client, OPERATOR_TOKEN, email, role)[1]
        keys = {("max", True): restricted_key(client, secret, _max_key(platform=False))}
        keys["max", False] = keys["max", True]
        for grant in {row.grant for row in MATRIX.values() if row.grant}:
            resource, level = grant.split(":")
            # A key with a platform permission can only be the platform account's.
            owner = OPERATOR_TOKEN if resource in PLATFORM_RESOURCES else secret
            keys[grant, True] = restricted_key(client, owner, {resource: level})
            keys[grant, False] = restricted_key(client, owner, _without(grant))
        yield Callers(client, secrets, keys)


def test_every_route_is_classified(callers: Callers) -> None:
    routes = app_routes(callers.client.app.routes)  # type: ignore[attr-defined]
    unclassified = routes - MATRIX.keys() - PUBLIC
    assert not unclassified, f"classify these routes in MATRIX or PUBLIC: {sorted(unclassified)}"
    stale = (MATRIX.keys() | PUBLIC) - routes
    assert not stale, f"these classified routes no longer exist: {sorted(stale)}"


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "matrix_unknown", path)


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX))
def test_route_allows_and_refuses(callers: Callers, method: str, path: str) -> None:
    row = MATRIX[(method, path)]
    allowed = set(row.allowed.split())
    assert allowed <= set(COLUMNS)
    for column in COLUMNS:
        response = callers.client.request(
            method, _url(path), headers=auth(callers.secret(column, row))
        )
        body = response.json()
        if column == "none":
            assert response.status_code == 401, (column, body)
        elif column in allowed:
            assert response.status_code not in (401, 403), (column, body)
        else:
            assert response.status_code == 403, (column, body)
            assert body["error"]["type"] == "invalid_request_error"
            assert body["error"]["code"] == "permission_denied"
            assert "does not have the required permissions" in body["error"]["message"]


@pytest.mark.parametrize(("method", "path"), sorted(PUBLIC))
def test_public_routes_need_no_key(callers: Callers, method: str, path: str) -> None:
    response = callers.client.request(method, _url(path))
    assert response.status_code not in (401, 403), response.text
