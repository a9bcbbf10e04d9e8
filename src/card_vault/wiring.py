"""Builds the vault from its settings: keys, database pool, PSP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from psycopg_pool import AsyncConnectionPool

from card_vault.cvc import CvcCache
from card_vault.keyring import KeyMaterialError, KeyRing, decode_key
from card_vault.psp import PspClient
from card_vault.settings import Settings
from card_vault.store import Store
from card_vault.vault import Vault


def load_keyring(settings: Settings) -> KeyRing:
    fingerprint_key = decode_key(settings.fingerprint_key) if settings.fingerprint_key else None
    if settings.keys:
        return KeyRing.from_json(settings.keys, fingerprint_key)
    if settings.key_file is None:
        raise KeyMaterialError("no keys: set CARD_VAULT_KEY_FILE or CARD_VAULT_KEYS")
    return KeyRing.from_file(settings.key_file, fingerprint_key)


@asynccontextmanager
async def open_vault(
    settings: Settings, *, psp_transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[Vault]:
    keyring = load_keyring(settings)
    pool = AsyncConnectionPool(
        settings.database_url,
        min_size=min(2, settings.db_pool_size),
        max_size=settings.db_pool_size,
        open=False,
        kwargs={"autocommit": False},
    )
    await pool.open(wait=True, timeout=30)
    psp = PspClient(
        settings.psp_url,
        settings.psp_api_key,
        connect_timeout=settings.psp_connect_timeout_seconds,
        read_timeout=settings.psp_read_timeout_seconds,
        transport=psp_transport,
    )
    try:
        yield Vault(Store(pool), keyring, CvcCache(settings.cvc_ttl_seconds), psp)
    finally:
        await psp.aclose()
        await pool.close()
