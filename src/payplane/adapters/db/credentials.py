"""Restricted keys (rows of api_keys) and operators; secrets stored as SHA-256 hashes only."""

from __future__ import annotations

from typing import Any, LiteralString

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from payplane.adapters.db.listing import page
from payplane.adapters.db.merchants import hash_secret
from payplane.domain.errors import InvalidRequest, ResourceMissing
from payplane.services.access_ports import NewCredential
from payplane.services.ports import ListQuery, Page


def to_restricted_key(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "restricted_key",
        "name": row["name"],
        "permissions": row["permissions"],
        "last4": row["last4"],
        "created": row["created"],
        "created_by": row["created_by"],
        "livemode": False,
    }


def to_operator(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "operator",
        "email": row["email"],
        "roles": row["roles"],
        "created": row["created"],
        "created_by": row["created_by"],
        "livemode": False,
    }


async def _one(
    conn: psycopg.AsyncConnection, statement: LiteralString, params: tuple[Any, ...]
) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(statement, params)
    return await cur.fetchone()


async def _merchant_must_exist(conn: psycopg.AsyncConnection, merchant_id: str) -> None:
    # The API's callers always exist; the CLI names merchants by hand.
    if await _one(conn, "SELECT 1 AS found FROM merchants WHERE id = %s", (merchant_id,)) is None:
        raise ResourceMissing("merchant", merchant_id, param="merchant")


class PgRestrictedKeys:
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    async def add(
        self, key: NewCredential, *, name: str, permissions: dict[str, str]
    ) -> dict[str, Any]:
        await _merchant_must_exist(self._conn, key.merchant_id)
        row = await _one(
            self._conn,
            "INSERT INTO api_keys (id, merchant_id, kind, secret_hash, last4, name, permissions, "
            "created, created_by) VALUES (%s, %s, 'restricted', %s, %s, %s, %s, %s, %s) "
            "RETURNING *",
            (
                key.id,
                key.merchant_id,
                hash_secret(key.secret),
                key.secret[-4:],
                name,
                Jsonb(permissions),
                key.created,
                key.created_by,
            ),
        )
        assert row is not None
        return to_restricted_key(row)

    async def get(self, merchant_id: str, key_id: str) -> dict[str, Any]:
        row = await _one(
            self._conn,
            "SELECT * FROM active_restricted_keys WHERE id = %s AND merchant_id = %s",
            (key_id, merchant_id),
        )
        if row is None:
            raise ResourceMissing("restricted key", key_id)
        return to_restricted_key(row)

    async def list(self, merchant_id: str, query: ListQuery) -> Page:
        return await page(
            self._conn,
            table="active_restricted_keys",
            resource="restricted key",
            merchant_id=merchant_id,
            query=query,
            to_object=to_restricted_key,
        )

    async def revoke(self, merchant_id: str, key_id: str) -> None:
        row = await _one(
            self._conn,
            "UPDATE api_keys SET revoked_at = now() WHERE id = %s AND merchant_id = %s "
            "AND kind = 'restricted' AND revoked_at IS NULL RETURNING id",
            (key_id, merchant_id),
        )
        if row is None:
            raise ResourceMissing("restricted key", key_id)


class PgOperators:
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    async def add(self, operator: NewCredential, *, email: str, roles: list[str]) -> dict[str, Any]:
        await _merchant_must_exist(self._conn, operator.merchant_id)
        row = await _one(
            self._conn,
            "INSERT INTO operators (id, merchant_id, email, roles, token_hash, last4, created, "
            "created_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (merchant_id, email) WHERE deactivated_at IS NULL DO NOTHING "
            "RETURNING *",
            (
                operator.id,
                operator.merchant_id,
                email,
                roles,
                hash_secret(operator.secret),
                operator.secret[-4:],
                operator.created,
                operator.created_by,
            ),
        )
        if row is None:
            raise InvalidRequest(
                f"An operator with the email {email} already exists on this account.",
                code="resource_already_exists",
                param="email",
            )
        return to_operator(row)

    async def get(self, merchant_id: str, operator_id: str) -> dict[str, Any]:
        row = await _one(
            self._conn,
            "SELECT * FROM active_operators WHERE id = %s AND merchant_id = %s",
            (operator_id, merchant_id),
        )
        if row is None:
            raise ResourceMissing("operator", operator_id)
        return to_operator(row)

    async def set_roles(
        self, merchant_id: str, operator_id: str, roles: list[str]
    ) -> dict[str, Any]:
        row = await _one(
            self._conn,
            "UPDATE operators SET roles = %s WHERE id = %s AND merchant_id = %s "
            "AND deactivated_at IS NULL RETURNING *",
            (roles, operator_id, merchant_id),
        )
        if row is None:
            raise ResourceMissing("operator", operator_id)
        return to_operator(row)

    async def deactivate(self, merchant_id: str, operator_id: str) -> None:
        row = await _one(
            self._conn,
            "UPDATE operators SET deactivated_at = now() WHERE id = %s AND merchant_id = %s "
            "AND deactivated_at IS NULL RETURNING id",
            (operator_id, merchant_id),
        )
        if row is None:
            raise ResourceMissing("operator", operator_id)

    async def list(self, merchant_id: str, query: ListQuery) -> Page:
        return await page(
            self._conn,
            table="active_operators",
            resource="operator",
            merchant_id=merchant_id,
            query=query,
            to_object=to_operator,
        )
