"""Who may do what: credentials, the permission table and the operator roles.

A permission is a resource at an access level. Each resource has its own ordered levels and a
higher level implies the lower ones (write implies read). Every API route declares the one
permission it needs; a credential's grants say which level it holds per resource. The policy is
these tables, nothing else decides.

Credentials belong to an account: a merchant, or the platform account whose staff reconcile the
PSPs' settlements for every merchant. Reconciliation and remediation span merchants, so only the
platform account's credentials can hold them: a merchant's never reach another merchant's data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from payplane.domain.errors import InvalidRequest

READ, CAPTURE, WRITE = "read", "capture", "write"

RESTRICTED_KEY_PREFIX = "rk_test_"
PLATFORM_ACCOUNT = "operator"  # the merchants row of the platform itself (migration 0007)
PLATFORM_RESOURCES = frozenset({"reconciliation", "remediation"})
OPERATOR_TOKEN_PREFIX = "op_"  # noqa: S105 (a prefix, not a secret)

# Each resource's levels, lowest first. payment_intents "capture" is capturing or canceling an
# existing payment (resolving its authorization), without creating or confirming payments.
RESOURCES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "payment_intents": (READ, CAPTURE, WRITE),
        "refunds": (READ, WRITE),
        "disputes": (READ, WRITE),
        "events": (READ,),
        "balance": (READ,),
        "ledger": (READ,),
        "webhook_endpoints": (READ, WRITE),
        "reconciliation": (READ, WRITE),
        "remediation": (READ, WRITE),
        "payment_methods": (READ, WRITE),
        "audit": (READ,),
        "approval_requests": (READ, WRITE),  # write: approve or deny
        "restricted_keys": (READ, WRITE),
        "operators": (READ, WRITE),
    }
)

# The highest level a restricted key may be given. Keys never manage credentials, and deciding
# an approval request is a person's act: a key may only follow the requests it made.
_KEY_CEILING: Mapping[str, str] = MappingProxyType(
    {
        **{
            resource: levels[-1]
            for resource, levels in RESOURCES.items()
            if resource not in ("restricted_keys", "operators")
        },
        "approval_requests": READ,
    }
)


class Role(StrEnum):
    SUPPORT = "support"
    FINANCE = "finance"
    OPERATIONS = "operations"
    ADMIN = "admin"


ROLES: Mapping[Role, Mapping[str, str]] = MappingProxyType(
    {
        Role.SUPPORT: {
            "payment_intents": READ,
            "refunds": READ,
            "disputes": READ,
            "payment_methods": READ,
            "events": READ,
            "audit": READ,
        },
        Role.FINANCE: {"ledger": READ, "balance": READ, "reconciliation": WRITE},
        Role.OPERATIONS: {
            "payment_intents": CAPTURE,
            "refunds": WRITE,
            "remediation": WRITE,
            "reconciliation": READ,
            "approval_requests": WRITE,
        },
        # Credentials and their audit trail; moving money needs the operations role as well.
        Role.ADMIN: {"restricted_keys": WRITE, "operators": WRITE, "audit": READ},
    }
)

# A secret key is the merchant's own integration: everything except deciding approvals.
_SECRET_KEY_GRANTS: Mapping[str, str] = MappingProxyType(
    {**{resource: levels[-1] for resource, levels in RESOURCES.items()}, "approval_requests": READ}
)


@dataclass(frozen=True, slots=True)
class Permission:
    resource: str
    level: str

    def __post_init__(self) -> None:
        if self.level not in RESOURCES.get(self.resource, ()):
            raise ValueError(f"no permission {self.resource}: {self.level}")

    def __str__(self) -> str:
        return f"{self.resource}: {self.level}"

    def held_by(self, grants: Mapping[str, str]) -> bool:
        held = grants.get(self.resource)
        levels = RESOURCES[self.resource]
        return held is not None and levels.index(held) >= levels.index(self.level)


class CredentialKind(StrEnum):
    SECRET_KEY = "secret_key"  # noqa: S105 (a kind of credential, not one)
    RESTRICTED_KEY = "restricted_key"
    OPERATOR = "operator"
    OPERATOR_TOKEN = "operator_token"  # noqa: S105 (PAYPLANE_OPERATOR_TOKEN: the platform's key)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: an account's secret key (the platform's is its operator
    token), a restricted key or an operator."""

    id: str
    merchant_id: str
    kind: CredentialKind
    label: str  # how messages name it: a masked key or the operator's email
    grants: Mapping[str, str]
    roles: frozenset[Role] = frozenset()

    @property
    def actor(self) -> str:
        """Stamped on audit rows and approval requests (secret keys keep their historic prefix)."""
        prefix = "api_key" if self.kind is CredentialKind.SECRET_KEY else self.kind.value
        return f"{prefix}:{self.id}"

    @property
    def subject_to_approval(self) -> bool:
        """Maker-checker applies to people and restricted keys. A secret key (and the platform's
        operator token) is the account's machine integration with every right anyway; a
        deployment that wants its integrations checked gives them restricted keys."""
        return self.kind in (CredentialKind.RESTRICTED_KEY, CredentialKind.OPERATOR)

    def allows(self, permission: Permission) -> bool:
        return permission.held_by(self.grants)


def _in_account(merchant_id: str, grants: Mapping[str, str]) -> Mapping[str, str]:
    """What an account's credential may hold of `grants`: platform resources are the platform's."""
    if merchant_id == PLATFORM_ACCOUNT:
        return MappingProxyType(dict(grants))
    return MappingProxyType({r: lvl for r, lvl in grants.items() if r not in PLATFORM_RESOURCES})


def secret_key(key_id: str, merchant_id: str, last4: str) -> Principal:
    return Principal(
        key_id,
        merchant_id,
        CredentialKind.SECRET_KEY,
        f"sk_test_****{last4}",
        _in_account(merchant_id, _SECRET_KEY_GRANTS),
    )


def operator_token() -> Principal:
    """PAYPLANE_OPERATOR_TOKEN: the platform account's secret key, set by the deployment."""
    return Principal(
        "platform",
        PLATFORM_ACCOUNT,
        CredentialKind.OPERATOR_TOKEN,
        "PAYPLANE_OPERATOR_TOKEN",
        _in_account(PLATFORM_ACCOUNT, _SECRET_KEY_GRANTS),
    )


def restricted_key(
    key_id: str, merchant_id: str, last4: str, permissions: Mapping[str, str]
) -> Principal:
    return Principal(
        key_id,
        merchant_id,
        CredentialKind.RESTRICTED_KEY,
        f"{RESTRICTED_KEY_PREFIX}****{last4}",
        _in_account(merchant_id, permissions),
    )


def operator(operator_id: str, merchant_id: str, email: str, roles: Iterable[str]) -> Principal:
    held = frozenset(Role(role) for role in roles)
    grants: dict[str, str] = {}
    for role in held:
        for resource, level in ROLES[role].items():
            if not Permission(resource, level).held_by(grants):
                grants[resource] = level
    return Principal(
        operator_id,
        merchant_id,
        CredentialKind.OPERATOR,
        email,
        _in_account(merchant_id, grants),
        held,
    )


def roles_holding(permission: Permission) -> list[Role]:
    return [role for role in Role if permission.held_by(ROLES[role])]


def denial_message(principal: Principal, permission: Permission) -> str:
    """Stripe's wording for a restricted key lacking a permission, for every kind of caller."""
    if principal.kind is CredentialKind.OPERATOR:
        who = f"The operator '{principal.label}' (roles: {', '.join(sorted(principal.roles))})"
    else:
        who = f"The provided key '{principal.label}'"
    return (
        f"{who} does not have the required permissions for this endpoint on account "
        f"'{principal.merchant_id}'. {_remedy(principal, permission)}"
    )


def _remedy(principal: Principal, permission: Permission) -> str:
    if permission.resource in PLATFORM_RESOURCES and principal.merchant_id != PLATFORM_ACCOUNT:
        return (
            f"The {permission.resource} endpoints span every merchant: only the platform "
            f"account's credentials (account '{PLATFORM_ACCOUNT}') may use them."
        )
    roles = roles_holding(permission)
    role_phrase = f"the {' or '.join(roles)} role"
    if principal.kind is CredentialKind.OPERATOR:
        if not roles:
            return (
                f"No operator role has the '{permission}' permission: use a secret key or a "
                "restricted key with it."
            )
        return f"The '{permission}' permission, which {role_phrase} has, would allow this request."
    if permission.held_by(_KEY_CEILING):
        return f"Having the '{permission}' permission would allow this request to continue."
    holders = ["a secret key"] if permission.held_by(_SECRET_KEY_GRANTS) else []
    holders += [f"an operator with {role_phrase}"] if roles else []
    return f"Only {' or '.join(holders)} can make this request."


def key_permissions(merchant_id: str, requested: Mapping[str, str]) -> dict[str, str]:
    """Validate the permissions (resource -> level) asked for a restricted key of an account."""
    if not requested:
        raise InvalidRequest(
            "A restricted key needs at least one permission, e.g. permissions[refunds]=write.",
            code="parameter_missing",
            param="permissions",
        )
    for resource, level in requested.items():
        param = f"permissions[{resource}]"
        if resource not in RESOURCES:
            raise InvalidRequest(
                f"Unknown permission: {resource}. Restricted keys may be given "
                + ", ".join(_KEY_CEILING)
                + ".",
                code="parameter_unknown",
                param=param,
            )
        ceiling = _KEY_CEILING.get(resource)
        if ceiling is None:
            raise InvalidRequest(
                f"Restricted keys cannot be given the {resource} permission: only secret keys "
                "and admin operators manage credentials.",
                code="parameter_invalid",
                param=param,
            )
        if resource in PLATFORM_RESOURCES and merchant_id != PLATFORM_ACCOUNT:
            raise InvalidRequest(
                f"Only the platform account's restricted keys can be given the {resource} "
                "permission: it spans every merchant.",
                code="parameter_invalid",
                param=param,
            )
        levels = RESOURCES[resource]
        allowed = levels[: levels.index(ceiling) + 1]
        if level not in allowed:
            raise InvalidRequest(
                f"Invalid {param}: {level!r}. It must be one of " + ", ".join(allowed) + ".",
                code="parameter_invalid",
                param=param,
            )
    return dict(requested)


def operator_roles(requested: Iterable[str]) -> list[Role]:
    roles: list[Role] = []
    for name in requested:
        try:
            role = Role(name)
        except ValueError:
            raise InvalidRequest(
                f"Invalid role: {name!r}. Roles are " + ", ".join(Role) + ".",
                code="parameter_invalid",
                param="roles",
            ) from None
        if role not in roles:
            roles.append(role)
    if not roles:
        raise InvalidRequest(
            "An operator needs at least one role: " + ", ".join(Role) + ".",
            code="parameter_missing",
            param="roles",
        )
    return roles


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_EMAIL_LENGTH = 254


def operator_email(email: str) -> str:
    """Operators are told apart by email, compared without case."""
    normalized = email.strip().lower()
    if len(normalized) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(normalized):
        raise InvalidRequest(
            f"Invalid email address: {email!r}.", code="email_invalid", param="email"
        )
    return normalized
