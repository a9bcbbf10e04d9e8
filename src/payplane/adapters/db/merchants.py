"""Merchants and their API keys. Keys and operators' tokens are stored as SHA-256 hashes; the
secret is shown once."""

from __future__ import annotations

import hashlib
import secrets

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from payplane.domain import access
from payplane.domain.access import OPERATOR_TOKEN_PREFIX, Principal
from payplane.domain.ids import new_id


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def insert_merchant_with_key(conn: psycopg.Connection, name: str) -> tuple[str, str]:
    merchant_id = new_id("acct", 16)
    secret = "sk_test_" + secrets.token_urlsafe(24)
    with conn.transaction():
        conn.execute("INSERT INTO merchants (id, name) VALUES (%s, %s)", (merchant_id, name))
        conn.execute(
            "INSERT INTO api_keys (id, merchant_id, kind, secret_hash, last4) "
            "VALUES (%s, %s, 'secret', %s, %s)",
            (new_id("key", 16), merchant_id, hash_secret(secret), secret[-4:]),
        )
    return merchant_id, secret


class PgApiKeys:
    """Finds the merchant and rights behind a secret key, restricted key or operator's token
    (its own short transaction, before any work)."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def find(self, secret: str) -> Principal | None:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            if secret.startswith(OPERATOR_TOKEN_PREFIX):
                await cur.execute(
                    "SELECT id, merchant_id, email, roles FROM active_operators "
                    "WHERE token_hash = %s",
                    (hash_secret(secret),),
                )
                row = await cur.fetchone()
                if row is None:
                    return None
                return access.operator(row["id"], row["merchant_id"], row["email"], row["roles"])
            await cur.execute(
                "SELECT id, merchant_id, kind, last4, permissions FROM api_keys "
                "WHERE secret_hash = %s AND revoked_at IS NULL",
                (hash_secret(secret),),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        if row["kind"] == "restricted":
            return access.restricted_key(
                row["id"], row["merchant_id"], row["last4"], row["permissions"]
            )
        return access.secret_key(row["id"], row["merchant_id"], row["last4"])
