"""payment_methods table <-> SavedCard, and the merchants' publishable keys."""

from __future__ import annotations

import secrets
from typing import Any

import psycopg
from psycopg.rows import dict_row

from payplane.adapters.db.listing import page
from payplane.domain.saved_card import SavedCard
from payplane.services.payment_method_ports import PublishableKey
from payplane.services.ports import ListQuery, Page

_COLUMNS = (
    "id",
    "merchant_id",
    "type",
    "card_brand",
    "card_last4",
    "card_exp_month",
    "card_exp_year",
    "card_fingerprint",
    "card_funding",
    "card_country",
    "billing_name",
    "customer",
    "created",
)
# A card is the same card whichever request copied it first: the later copy is dropped.
_INSERT = (
    f"INSERT INTO payment_methods ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join(f'%({c})s' for c in _COLUMNS)}) ON CONFLICT (id) DO NOTHING"
)


def _params(card: SavedCard) -> dict[str, Any]:
    return {
        "id": card.id,
        "merchant_id": card.merchant_id,
        "type": "card",
        "card_brand": card.brand,
        "card_last4": card.last4,
        "card_exp_month": card.exp_month,
        "card_exp_year": card.exp_year,
        "card_fingerprint": card.fingerprint,
        "card_funding": card.funding,
        "card_country": card.country,
        "billing_name": card.billing_name,
        "customer": card.customer,
        "created": card.created,
    }


def to_saved_card(row: dict[str, Any]) -> SavedCard:
    return SavedCard(
        id=row["id"],
        merchant_id=row["merchant_id"],
        brand=row["card_brand"],
        last4=row["card_last4"],
        exp_month=row["card_exp_month"],
        exp_year=row["card_exp_year"],
        fingerprint=row["card_fingerprint"],
        funding=row["card_funding"],
        country=row["card_country"],
        billing_name=row["billing_name"],
        created=row["created"],
        customer=row["customer"],
    )


class PgSavedCards:
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    async def get(self, merchant_id: str, card_id: str, *, lock: bool = False) -> SavedCard | None:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT * FROM payment_methods WHERE id = %s AND merchant_id = %s"
            + (" FOR UPDATE" if lock else ""),
            (card_id, merchant_id),
        )
        row = await cur.fetchone()
        return None if row is None else to_saved_card(row)

    async def add(self, card: SavedCard) -> SavedCard:
        await self._conn.execute(_INSERT, _params(card))
        stored = await self.get(card.merchant_id, card.id)
        assert stored is not None, "vault ids are unique across merchants"
        return stored

    async def save(self, card: SavedCard) -> None:
        await self._conn.execute(
            "UPDATE payment_methods SET customer = %(customer)s WHERE id = %(id)s", _params(card)
        )

    async def list(self, merchant_id: str, query: ListQuery) -> Page:
        return await page(
            self._conn,
            table="payment_methods",
            resource="payment_method",
            merchant_id=merchant_id,
            query=query,
            to_object=lambda row: to_saved_card(row).as_stripe_object(),
        )


def new_publishable_key() -> str:
    return "pk_test_" + secrets.token_urlsafe(24)


def insert_publishable_key(conn: psycopg.Connection, merchant_id: str) -> str:
    """A new merchant's publishable key (bootstrap, with its synchronous connection)."""
    key = new_publishable_key()
    conn.execute(
        "INSERT INTO publishable_keys (key, merchant_id) VALUES (%s, %s)", (key, merchant_id)
    )
    return key


def publishable_key_of(conn: psycopg.Connection, merchant_id: str) -> str:
    row = conn.execute(
        "SELECT key FROM publishable_keys WHERE merchant_id = %s", (merchant_id,)
    ).fetchone()
    if row is None:
        raise LookupError(f"merchant {merchant_id} has no publishable key")
    key: str = row[0]
    return key


_REGISTERED = "UPDATE publishable_keys SET registered_with_vault_at = now() WHERE key = %s"


def mark_registered(conn: psycopg.Connection, key: str) -> None:
    conn.execute(_REGISTERED, (key,))


class PgPublishableKeys:
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn

    async def unregistered(self, *, limit: int) -> list[PublishableKey]:
        cur = await self._conn.execute(
            "SELECT key, merchant_id FROM publishable_keys "
            "WHERE registered_with_vault_at IS NULL ORDER BY created_at LIMIT %s",
            (limit,),
        )
        return [PublishableKey(key, merchant_id) for key, merchant_id in await cur.fetchall()]

    async def registered(self, key: str) -> None:
        await self._conn.execute(_REGISTERED, (key,))
