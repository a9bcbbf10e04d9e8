"""The permission table, the roles and how credentials are judged against them (pure)."""

from __future__ import annotations

import pytest

from payplane.domain import access
from payplane.domain.access import CredentialKind, Permission, Role
from payplane.domain.errors import InvalidRequest


def _op(*roles: str) -> access.Principal:
    return access.operator("opr_1", "acct_1", "ops@example.com", roles)


def test_a_higher_level_implies_the_lower_ones() -> None:
    key = access.restricted_key("key_1", "acct_1", "abcd", {"payment_intents": "write"})
    assert key.allows(Permission("payment_intents", "read"))
    assert key.allows(Permission("payment_intents", "capture"))
    capture_only = access.restricted_key("key_2", "acct_1", "abcd", {"payment_intents": "capture"})
    assert capture_only.allows(Permission("payment_intents", "read"))
    assert not capture_only.allows(Permission("payment_intents", "write"))
    assert not capture_only.allows(Permission("refunds", "read"))


def test_an_unknown_permission_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no permission"):
        Permission("refunds", "capture")
    with pytest.raises(ValueError, match="no permission"):
        Permission("charges", "read")


def test_a_secret_key_may_do_everything_but_decide_approvals() -> None:
    key = access.secret_key("key_1", "acct_1", "abcd")
    for resource, levels in access.RESOURCES.items():
        if resource != "approval_requests" and resource not in access.PLATFORM_RESOURCES:
            assert key.allows(Permission(resource, levels[-1])), resource
    assert key.allows(Permission("approval_requests", "read"))
    assert not key.allows(Permission("approval_requests", "write"))
    assert not key.subject_to_approval
    assert key.actor == "api_key:key_1"


@pytest.mark.parametrize(
    ("role", "allowed", "refused"),
    [
        (
            "support",
            [("payment_intents", "read"), ("refunds", "read"), ("events", "read")],
            [("refunds", "write"), ("payment_intents", "capture"), ("ledger", "read")],
        ),
        (
            "finance",
            [("ledger", "read"), ("balance", "read"), ("reconciliation", "write")],
            [("payment_intents", "read"), ("refunds", "write"), ("remediation", "write")],
        ),
        (
            "operations",
            [
                ("payment_intents", "capture"),
                ("refunds", "write"),
                ("remediation", "write"),
                ("approval_requests", "write"),
            ],
            [("payment_intents", "write"), ("operators", "write"), ("ledger", "read")],
        ),
        (
            "admin",
            [("restricted_keys", "write"), ("operators", "write"), ("audit", "read")],
            [("refunds", "write"), ("payment_intents", "capture"), ("approval_requests", "read")],
        ),
    ],
)
def test_roles(role: str, allowed: list[tuple[str, str]], refused: list[tuple[str, str]]) -> None:
    # In the platform account, where every resource can be held.
    operator = access.operator("opr_1", access.PLATFORM_ACCOUNT, "ops@example.com", [role])
    for resource, level in allowed:
        assert operator.allows(Permission(resource, level)), (resource, level)
    for resource, level in refused:
        assert not operator.allows(Permission(resource, level)), (resource, level)


def test_an_operator_holds_the_union_of_its_roles() -> None:
    operator = _op("admin", "operations")
    assert operator.allows(Permission("refunds", "write"))
    assert operator.allows(Permission("operators", "write"))
    assert operator.roles == frozenset({Role.ADMIN, Role.OPERATIONS})
    assert operator.kind is CredentialKind.OPERATOR
    assert operator.subject_to_approval
    assert operator.actor == "operator:opr_1"


def test_restricted_key_permissions_are_validated() -> None:
    assert access.key_permissions("acct_1", {"refunds": "write", "events": "read"}) == {
        "refunds": "write",
        "events": "read",
    }
    cases = [
        ({}, "permissions", "at least one permission"),
        ({"charges": "read"}, "permissions[charges]", "Unknown permission: charges"),
        ({"operators": "read"}, "permissions[operators]", "cannot be given the operators"),
        ({"events": "write"}, "permissions[events]", "must be one of read"),
        (
            {"approval_requests": "write"},
            "permissions[approval_requests]",
            "must be one of read.",
        ),
    ]
    for requested, param, message in cases:
        with pytest.raises(InvalidRequest, match=message) as caught:
            access.key_permissions("acct_1", requested)
        assert caught.value.param == param


def test_operator_roles_and_email_are_validated() -> None:
    assert access.operator_roles(["admin", "support", "admin"]) == [Role.ADMIN, Role.SUPPORT]
    with pytest.raises(InvalidRequest, match="Invalid role: 'root'"):
        access.operator_roles(["root"])
    with pytest.raises(InvalidRequest, match="at least one role"):
        access.operator_roles([])
    assert access.operator_email("  Ops@Example.COM ") == "ops@example.com"
    with pytest.raises(InvalidRequest, match="Invalid email") as caught:
        access.operator_email("not-an-email")
    assert caught.value.param == "email"


def test_denial_messages_say_what_would_allow_the_request() -> None:
    key = access.restricted_key("key_1", "acct_1", "wxyz", {"refunds": "read"})
    message = access.denial_message(key, Permission("refunds", "write"))
    assert message == (
        "The provided key 'rk_test_****wxyz' does not have the required permissions for this "
        "endpoint on account 'acct_1'. Having the 'refunds: write' permission would allow this "
        "request to continue."
    )
    assert "Only a secret key or an operator with the admin role" in access.denial_message(
        key, Permission("operators", "write")
    )
    secret = access.secret_key("key_2", "acct_1", "abcd")
    assert "Only an operator with the operations role" in access.denial_message(
        secret, Permission("approval_requests", "write")
    )
    support = _op("support")
    assert "The operator 'ops@example.com' (roles: support)" in access.denial_message(
        support, Permission("refunds", "write")
    )
    assert "which the operations role has" in access.denial_message(
        support, Permission("refunds", "write")
    )
    assert "No operator role has the 'webhook_endpoints: write'" in access.denial_message(
        support, Permission("webhook_endpoints", "write")
    )


def test_only_the_platform_account_reaches_what_spans_merchants() -> None:
    reconcile = Permission("reconciliation", "write")
    write_off = Permission("remediation", "write")
    merchant_finance = access.operator("opr_1", "acct_1", "f@shop.test", ["finance", "operations"])
    platform_finance = access.operator("opr_2", access.PLATFORM_ACCOUNT, "f@ops.test", ["finance"])
    merchant_key = access.secret_key("key_1", "acct_1", "abcd")
    token = access.operator_token()
    assert not merchant_finance.allows(reconcile)
    assert not merchant_finance.allows(write_off)
    assert not merchant_key.allows(reconcile)
    assert platform_finance.allows(reconcile)
    assert not platform_finance.allows(write_off)
    assert token.allows(reconcile)
    assert token.allows(write_off)
    assert not token.allows(Permission("approval_requests", "write"))
    assert not token.subject_to_approval
    assert token.actor == "operator_token:platform"
    assert "only the platform account's credentials" in access.denial_message(
        merchant_key, reconcile
    )
    with pytest.raises(InvalidRequest, match="Only the platform account's restricted keys"):
        access.key_permissions("acct_1", {"remediation": "write"})
    assert access.key_permissions(access.PLATFORM_ACCOUNT, {"remediation": "write"}) == {
        "remediation": "write"
    }
