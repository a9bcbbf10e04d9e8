"""The vault's tables, through an async pool connected as the card_vault role."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from card_vault.envelope import Sealed

_CARD_COLUMNS = (
    "id, merchant_id, fingerprint, brand, last4, exp_month, exp_year, holder_name, "
    "extract(epoch FROM created_at)::bigint AS created"
)
_SEALED_COLUMNS = "nonce, ciphertext, wrapped_dek, kek_version"


@dataclass(frozen=True, slots=True)
class StoredCard:
    id: str
    merchant_id: str
    fingerprint: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    holder_name: str | None
    created: int

    def as_payment_method(self) -> dict[str, Any]:
        """Stripe's PaymentMethod object; the number is never part of it."""
        return {
            "id": self.id,
            "object": "payment_method",
            "type": "card",
            "billing_details": {
                "address": None,
                "email": None,
                "name": self.holder_name,
                "phone": None,
            },
            "card": {
                "brand": self.brand,
                "last4": self.last4,
                "exp_month": self.exp_month,
                "exp_year": self.exp_year,
                "fingerprint": self.fingerprint,
                "funding": "credit",
                "country": None,
            },
            "created": self.created,
            "customer": None,
            "livemode": False,
            "metadata": {},
        }


class Claim(StrEnum):
    NEW = "new"
    SAME = "same"  # the key was seen with this very body: forward again, the PSP deduplicates
    CONFLICT = "conflict"  # the key was seen with another body


def _card(row: dict[str, Any]) -> StoredCard:
    return StoredCard(**{name: row[name] for name in StoredCard.__slots__})


class Store:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def add_card(self, card: StoredCard, sealed: Sealed) -> StoredCard:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "INSERT INTO vault.cards (id, merchant_id, fingerprint, brand, last4, exp_month, "
                "exp_year, holder_name, nonce, ciphertext, wrapped_dek, kek_version, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, to_timestamp(%s)) "
                f"RETURNING {_CARD_COLUMNS}",
                (
                    card.id,
                    card.merchant_id,
                    card.fingerprint,
                    card.brand,
                    card.last4,
                    card.exp_month,
                    card.exp_year,
                    card.holder_name,
                    sealed.nonce,
                    sealed.ciphertext,
                    sealed.wrapped_dek,
                    sealed.kek_version,
                    card.created,
                ),
            )
            row = await cur.fetchone()
        assert row is not None
        return _card(row)

    async def card(self, merchant_id: str, card_id: str) -> StoredCard | None:
        found = await self.sealed_card(merchant_id, card_id)
        return found[0] if found else None

    async def sealed_card(self, merchant_id: str, card_id: str) -> tuple[StoredCard, Sealed] | None:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {_CARD_COLUMNS}, {_SEALED_COLUMNS} FROM vault.cards "
                "WHERE id = %s AND merchant_id = %s",
                (card_id, merchant_id),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        sealed = Sealed(
            bytes(row["nonce"]), bytes(row["ciphertext"]), bytes(row["wrapped_dek"]),
            row["kek_version"],
        )  # fmt: skip
        return _card(row), sealed

    async def cards(
        self, merchant_id: str, *, limit: int, starting_after: str | None
    ) -> list[StoredCard]:
        """A merchant's cards, newest first, after the card `starting_after` if given."""
        cursor = ""
        params: dict[str, object] = {"merchant": merchant_id, "limit": limit}
        if starting_after is not None:
            cursor = (
                "AND (created_at, id) < (SELECT created_at, id FROM vault.cards "
                "WHERE id = %(after)s AND merchant_id = %(merchant)s)"
            )
            params["after"] = starting_after
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {_CARD_COLUMNS} FROM vault.cards WHERE merchant_id = %(merchant)s "
                f"{cursor} ORDER BY created_at DESC, id DESC LIMIT %(limit)s",
                params,
            )
            return [_card(row) for row in await cur.fetchall()]

    async def merchant_for_key(self, key_hash: bytes) -> str | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT merchant_id FROM vault.publishable_keys WHERE key_hash = %s", (key_hash,)
            )
            row = await cur.fetchone()
        return row[0] if row else None

    async def register_key(self, key_hash: bytes, merchant_id: str) -> str:
        """Register a key for a merchant; answers the merchant it belongs to (another one if it
        was registered before for someone else, in which case nothing changes)."""
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO vault.publishable_keys (key_hash, merchant_id) VALUES (%s, %s) "
                "ON CONFLICT (key_hash) DO NOTHING",
                (key_hash, merchant_id),
            )
            cur = await conn.execute(
                "SELECT merchant_id FROM vault.publishable_keys WHERE key_hash = %s", (key_hash,)
            )
            row = await cur.fetchone()
        assert row is not None
        return str(row[0])

    async def revoke_key(self, key_hash: bytes, merchant_id: str) -> bool:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM vault.publishable_keys WHERE key_hash = %s AND merchant_id = %s",
                (key_hash, merchant_id),
            )
            return cur.rowcount > 0

    async def claim_forward(self, merchant_id: str, key: str, body_hash: bytes) -> Claim:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO vault.forward_requests (merchant_id, idempotency_key, body_hash) "
                "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (merchant_id, key, body_hash),
            )
            if cur.rowcount == 1:
                return Claim.NEW
            cur = await conn.execute(
                "SELECT body_hash FROM vault.forward_requests "
                "WHERE merchant_id = %s AND idempotency_key = %s",
                (merchant_id, key),
            )
            row = await cur.fetchone()
        assert row is not None
        return Claim.SAME if bytes(row[0]) == body_hash else Claim.CONFLICT

    async def purge_forwards(self, retention_seconds: float, limit: int) -> int:
        """Delete up to `limit` forwarding requests older than the retention, in one short
        transaction; answers how many."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM vault.forward_requests WHERE (merchant_id, idempotency_key) IN ("
                " SELECT merchant_id, idempotency_key FROM vault.forward_requests"
                " WHERE created_at < now() - make_interval(secs => %s) LIMIT %s)",
                (retention_seconds, limit),
            )
            return cur.rowcount

    async def rewrap_batch(
        self, current_version: int, limit: int, rewrap: Callable[[bytes, int], bytes]
    ) -> int:
        """Re-wrap up to `limit` data keys not under `current_version`, in one short
        transaction; rows another rotation holds are skipped. Answers how many were done."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT id, wrapped_dek, kek_version FROM vault.cards WHERE kek_version <> %s "
                "ORDER BY kek_version, id LIMIT %s FOR UPDATE SKIP LOCKED",
                (current_version, limit),
            )
            rows = await cur.fetchall()
            if rows:
                async with conn.cursor() as update:
                    await update.executemany(
                        "UPDATE vault.cards SET wrapped_dek = %s, kek_version = %s WHERE id = %s",
                        [(rewrap(bytes(w), v), current_version, i) for i, w, v in rows],
                    )
        return len(rows)

    async def count_by_version(self) -> dict[int, int]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT kek_version, count(*) FROM vault.cards GROUP BY kek_version"
            )
            return {int(version): int(count) for version, count in await cur.fetchall()}
