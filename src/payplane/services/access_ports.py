"""Ports of access control: restricted keys, operators and approval requests.

Kept apart from services/ports.py (which the UnitOfWork port ties together) so each stays small.
Credentials come back as API objects without their secrets: those are stored as hashes only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from payplane.domain.approval import ApprovalRequest

if TYPE_CHECKING:  # ports.py imports this module for the UnitOfWork port
    from payplane.services.ports import ListQuery, Page


@dataclass(frozen=True, slots=True)
class NewCredential:
    """A restricted key or an operator about to be stored; `secret` is hashed on the way in."""

    id: str
    merchant_id: str
    secret: str
    created: int
    created_by: str


class RestrictedKeys(Protocol):
    async def add(
        self, key: NewCredential, *, name: str, permissions: dict[str, str]
    ) -> dict[str, Any]: ...
    async def get(self, merchant_id: str, key_id: str) -> dict[str, Any]:
        """Raises ResourceMissing for an unknown, revoked or another merchant's key."""
        ...

    async def list(self, merchant_id: str, query: ListQuery) -> Page: ...
    async def revoke(self, merchant_id: str, key_id: str) -> None: ...


class Operators(Protocol):
    async def add(self, operator: NewCredential, *, email: str, roles: list[str]) -> dict[str, Any]:
        """Raises InvalidRequest when the merchant has an active operator with this email."""
        ...

    async def get(self, merchant_id: str, operator_id: str) -> dict[str, Any]:
        """Raises ResourceMissing for an unknown, deactivated or another merchant's operator."""
        ...

    async def set_roles(
        self, merchant_id: str, operator_id: str, roles: list[str]
    ) -> dict[str, Any]: ...
    async def deactivate(self, merchant_id: str, operator_id: str) -> None: ...
    async def list(self, merchant_id: str, query: ListQuery) -> Page: ...


class ApprovalRequests(Protocol):
    async def add(self, request: ApprovalRequest) -> None: ...
    async def get(
        self, merchant_id: str, approval_id: str, *, lock: bool = False
    ) -> ApprovalRequest: ...
    async def save(self, request: ApprovalRequest) -> None: ...
    async def list(self, merchant_id: str, query: ListQuery) -> Page: ...
