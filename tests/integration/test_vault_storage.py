"""The vault's own schema and role on the core's PostgreSQL: migration, isolation from the core's
roles, encrypted storage, key rotation without downtime, forwarding against a fake PSP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import errors, sql
from vault_support import (
    CapturingPsp,
    admin_url,
    migrated,
    new_merchant_id,
    new_publishable_key,
    scratch_database,
    vault_store,
    vault_with_fake_psp,
)

from card_vault import envelope
from card_vault.cards import Card, validate
from card_vault.errors import VaultError
from card_vault.keyring import KeyRing
from card_vault.migrations import migrate, migrations
from card_vault.vault import Forwarding, Vault

PAN = "4242424242424242"
TODAY = date(2026, 6, 15)
PSP_REQUEST = {"amount": 2000, "currency": "usd", "merchant_reference": "pi_1", "capture": False}


@pytest.fixture(scope="module")
def vault_url(database_url: str) -> str:
    return migrated(database_url)


pytestmark = pytest.mark.usefixtures("vault_url")


@pytest.fixture
def own_database(database_url: str) -> Iterator[str]:
    """A database of its own: a rotation re-wraps every row of the table, and rows written by
    other tests are under other test key files (a deployment has one key set)."""
    with scratch_database(database_url, "vault_rotation") as url:
        yield url


def a_card(number: str = PAN, cvc: str | None = "123") -> Card:
    return validate(number, "12", "2030", cvc, "Ada Lovelace", TODAY)


def forwarding(merchant: str, payment_method: str, key: str, **request: Any) -> Forwarding:
    return Forwarding(merchant, payment_method, PSP_REQUEST | request, key)


async def numbers_at_psp(
    vault: Vault, psp: CapturingPsp, merchant: str, ids: list[str]
) -> list[str]:
    """Each card's number as decrypted and forwarded by the vault."""
    for index, card_id in enumerate(ids):
        await vault.forward(forwarding(merchant, card_id, f"read-{card_id}-{index}"))
    return [card["number"] for card in psp.cards[-len(ids) :]]


def test_migrate_is_idempotent_and_versioned(database_url: str, vault_url: str) -> None:
    assert migrate(admin_url(database_url)) == []
    with psycopg.connect(vault_url) as conn:
        versions = conn.execute(
            "SELECT version FROM vault.schema_migrations ORDER BY version"
        ).fetchall()
        owners = conn.execute(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'vault'"
        ).fetchall()
    assert versions == [(version,) for version, _ in migrations()]
    assert len(versions) >= 2
    assert owners == [("card_vault",)]


@pytest.mark.parametrize("table", ["cards", "publishable_keys", "forward_requests"])
def test_the_core_roles_cannot_read_the_vault(database_url: str, table: str) -> None:
    select = sql.SQL("SELECT * FROM {}").format(sql.Identifier("vault", table))
    with psycopg.connect(database_url, autocommit=True) as conn:
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(select)  # as payplane, the database's owner
        conn.execute("SET ROLE payplane_app")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(select)
        conn.execute("RESET ROLE")
        members = conn.execute(
            "SELECT pg_has_role('payplane', 'card_vault', 'USAGE'), "
            "pg_has_role('payplane_app', 'card_vault', 'USAGE')"
        ).fetchone()
    assert members == (False, False)


def test_the_vault_cannot_read_the_core(vault_url: str) -> None:
    with psycopg.connect(vault_url) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute("SELECT * FROM payment_intents")


def test_cards_are_stored_encrypted_without_cvc(
    database_url: str, vault_url: str, tmp_path: Path
) -> None:
    async def scenario() -> dict[str, Any]:
        async with vault_with_fake_psp(database_url, tmp_path / "keys.json") as vault:
            return await vault.tokenize(new_merchant_id(), a_card(), 1_800_000_000)

    method = asyncio.run(scenario())
    assert method["card"] | {"fingerprint": "-"} == {
        "brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030,
        "fingerprint": "-", "funding": "credit", "country": None,
    }  # fmt: skip
    assert (method["created"], method["billing_details"]["name"]) == (1_800_000_000, "Ada Lovelace")
    with psycopg.connect(vault_url) as conn:
        row = conn.execute(
            "SELECT row_to_json(c)::text, encode(nonce || ciphertext || wrapped_dek, 'hex') "
            "FROM vault.cards c WHERE id = %s",
            (method["id"],),
        ).fetchone()
        columns = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'vault'"
        ).fetchall()
    assert row is not None
    assert PAN not in row[0]
    assert PAN.encode().hex() not in row[1]
    assert "123" not in json.loads(row[0]).values()
    assert not [name for (name,) in columns if "cvc" in name]


def test_same_card_same_fingerprint(database_url: str, tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        async with vault_with_fake_psp(database_url, tmp_path / "keys.json") as vault:
            cards = [a_card(), a_card(cvc=None), a_card("5555555555554444")]
            made = [await vault.tokenize(new_merchant_id(), c, 1) for c in cards]
            return [m["card"]["fingerprint"] for m in made]

    visa, visa_again, mastercard = asyncio.run(scenario())
    assert visa == visa_again != mastercard


def test_rotation_rewraps_every_key_and_reads_never_stop(own_database: str, tmp_path: Path) -> None:
    database_url = own_database
    key_file, merchant, psp = tmp_path / "keys.json", new_merchant_id(), CapturingPsp()
    numbers = ["4242424242424242", "5555555555554444", "378282246310005", "6011111111111117"]

    async def scenario() -> None:
        async with (
            vault_with_fake_psp(database_url, key_file, psp) as serving,
            vault_store(database_url) as store,
        ):
            before = [
                (await serving.tokenize(merchant, a_card(n, cvc=None), 1))["id"]
                for n in numbers[:3]
            ]
            # During: another process makes version 2 current and re-wraps a first batch of 2;
            # the serving vault goes on writing and reading, rows under both versions.
            rotation = KeyRing.from_file(key_file)
            assert rotation.rotate() == 2

            def to_v2(wrapped: bytes, version: int) -> bytes:
                return envelope.rewrap(wrapped, rotation.key(version), rotation.key(2))

            assert await store.rewrap_batch(2, 2, to_v2) == 2
            during = (await serving.tokenize(merchant, a_card(numbers[3]), 2))["id"]
            counts = await store.count_by_version()
            assert counts[1] >= 1
            assert counts[2] >= 3  # the batch, and the new card under the new current version
            ids = [*before, during]
            assert await numbers_at_psp(serving, psp, merchant, ids) == numbers
            # After: a full rotation (the CLI's), then the old versions retired.
            async with vault_with_fake_psp(database_url, key_file, rewrap_batch_size=2) as admin:
                status = await admin.rotate_keys(batch_size=2)
                assert status == {
                    "current": 3, "versions": {"1": 0, "2": 0, "3": 4}, "rewrapped": 4
                }  # fmt: skip
                await admin.retire_key(1)
                await admin.retire_key(2)
            assert KeyRing.from_file(key_file).versions == [3]
            after = (await serving.tokenize(merchant, a_card("2223003122003222"), 3))["id"]
            found = await store.sealed_card(merchant, after)
            assert found is not None
            assert found[1].kek_version == 3  # the serving vault followed the key file
            assert await numbers_at_psp(serving, psp, merchant, [*ids, after]) == [
                *numbers, "2223003122003222"
            ]  # fmt: skip

    asyncio.run(scenario())


def test_a_key_in_use_cannot_be_retired(own_database: str, tmp_path: Path) -> None:
    database_url = own_database
    key_file = tmp_path / "keys.json"

    async def scenario() -> VaultError:
        async with vault_with_fake_psp(database_url, key_file) as vault:
            await vault.tokenize(new_merchant_id(), a_card(), 1)
            KeyRing.from_file(key_file).rotate()  # a rotation that stopped before re-wrapping
            with pytest.raises(VaultError) as refused:
                await vault.retire_key(1)
            await vault.rewrap(100)  # what `card-vault rotate-key --resume` does
            await vault.retire_key(1)
            return refused.value

    refused = asyncio.run(scenario())
    assert (refused.status, refused.code) == (409, "key_in_use")


def test_publishable_keys_are_stored_hashed(
    database_url: str, vault_url: str, tmp_path: Path
) -> None:
    key, merchant, other = new_publishable_key(), new_merchant_id(), new_merchant_id()

    async def scenario() -> None:
        async with vault_with_fake_psp(database_url, tmp_path / "keys.json") as vault:
            await vault.register_key(key, merchant)
            await vault.register_key(key, merchant)  # idempotent
            assert await vault.merchant_for(key) == merchant
            with pytest.raises(VaultError, match="another merchant") as taken:
                await vault.register_key(key, other)
            assert taken.value.status == 409
            assert (await vault.revoke_key(key, other))["deleted"] is False
            with psycopg.connect(vault_url) as conn:
                stored = conn.execute(
                    "SELECT string_agg(row_to_json(k)::text, '') FROM vault.publishable_keys k"
                ).fetchone()
            assert stored is not None
            assert merchant in stored[0]
            assert key not in stored[0]
            assert (await vault.revoke_key(key, merchant))["deleted"] is True
            with pytest.raises(VaultError) as unknown:
                await vault.merchant_for(key)
            assert (unknown.value.status, unknown.value.code) == (401, "api_key_invalid")
            assert key not in unknown.value.message

    asyncio.run(scenario())


def test_forwarding_inserts_the_card_and_keeps_replays_identical(
    database_url: str, tmp_path: Path
) -> None:
    merchant, psp = new_merchant_id(), CapturingPsp()

    async def scenario() -> None:
        async with vault_with_fake_psp(database_url, tmp_path / "keys.json", psp) as vault:
            pm = (await vault.tokenize(merchant, a_card(), 1))["id"]
            first = await vault.forward(forwarding(merchant, pm, "att_1"))
            replay = await vault.forward(forwarding(merchant, pm, "att_1"))
            later = await vault.forward(forwarding(merchant, pm, "att_2", amount=500))
            with pytest.raises(VaultError) as reused:
                await vault.forward(forwarding(merchant, pm, "att_1", amount=999))
            with pytest.raises(VaultError) as elsewhere:
                await vault.forward(forwarding(new_merchant_id(), pm, "att_3"))
            assert first.status == 200
            # The PSP's echo of the number is taken out; its card_<brand>_<last4> stays.
            assert first.body["echo"] == "number [redacted]"
            assert first.body["payment_method"] == "card_visa_4242"
            assert replay.body == first.body
            assert later.status == 200
            assert (reused.value.status, reused.value.type) == (409, "idempotency_error")
            assert (elsewhere.value.status, elsewhere.value.param) == (404, "payment_method")

    asyncio.run(scenario())
    full = {"number": PAN, "exp_month": 12, "exp_year": 2030, "cvc": "123"}
    # The CVC goes with the first authorization and its replay (same key, identical body),
    # never with another one; the refused requests reached no PSP.
    assert psp.cards == [full, full, {k: v for k, v in full.items() if k != "cvc"}]
    assert [r.headers["Idempotency-Key"] for r in psp.requests] == ["att_1", "att_1", "att_2"]
    assert psp.requests[0].headers["Authorization"] == "Bearer psk_test_simulator"
    sent = json.loads(psp.requests[0].content)
    assert sent == PSP_REQUEST | {"card": full}


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        (httpx.ConnectError("refused"), 503, "psp_unreachable"),
        (httpx.ConnectTimeout("slow connect"), 503, "psp_unreachable"),
        (httpx.ReadTimeout("no answer"), 504, "psp_timeout"),
        (httpx.RemoteProtocolError("connection dropped"), 504, "psp_timeout"),
    ],
)
def test_psp_failures_say_whether_anything_was_sent(
    database_url: str, tmp_path: Path, failure: Exception, status: int, code: str
) -> None:
    def fail(_: httpx.Request) -> httpx.Response:
        raise failure

    async def scenario() -> VaultError:
        async with vault_with_fake_psp(database_url, tmp_path / "keys.json", fail) as vault:
            merchant = new_merchant_id()
            pm = (await vault.tokenize(merchant, a_card(), 1))["id"]
            with pytest.raises(VaultError) as refused:
                await vault.forward(forwarding(merchant, pm, "att_1"))
            return refused.value

    refused = asyncio.run(scenario())
    assert (refused.status, refused.code, refused.type) == (status, code, "api_error")


def test_a_psp_answer_that_is_not_json_is_an_unknown_outcome(
    database_url: str, tmp_path: Path
) -> None:
    psp = CapturingPsp(lambda _: httpx.Response(502, text="<html>bad gateway</html>"))

    async def scenario() -> VaultError:
        async with vault_with_fake_psp(database_url, tmp_path / "keys.json", psp) as vault:
            merchant = new_merchant_id()
            pm = (await vault.tokenize(merchant, a_card(), 1))["id"]
            with pytest.raises(VaultError) as refused:
                await vault.forward(forwarding(merchant, pm, "att_1"))
            return refused.value

    refused = asyncio.run(scenario())
    assert (refused.status, refused.code) == (502, "psp_invalid_response")


def test_forwarding_requests_older_than_the_retention_are_purged(
    database_url: str, vault_url: str, tmp_path: Path
) -> None:
    merchant, psp = new_merchant_id(), CapturingPsp()
    day = 86_400.0

    async def scenario() -> None:
        async with vault_with_fake_psp(database_url, tmp_path / "keys.json", psp) as vault:
            pm = (await vault.tokenize(merchant, a_card(), 1))["id"]
            for key in ("old_1", "old_2", "fresh"):
                await vault.forward(forwarding(merchant, pm, key))
            with psycopg.connect(vault_url) as conn:
                conn.execute(
                    "UPDATE vault.forward_requests SET created_at = now() - interval '31 days' "
                    "WHERE merchant_id = %s AND idempotency_key LIKE 'old_%%'",
                    (merchant,),
                )
            assert await vault.purge_forwards(30 * day, batch_size=1) == 2
            assert await vault.purge_forwards(30 * day) == 0
            with psycopg.connect(vault_url) as conn:
                kept = conn.execute(
                    "SELECT idempotency_key FROM vault.forward_requests WHERE merchant_id = %s",
                    (merchant,),
                ).fetchall()
            assert kept == [("fresh",)]
            # A replay of the kept request is still answered from the guard, not refused.
            again = await vault.forward(forwarding(merchant, pm, "fresh"))
            assert again.status == 200

    asyncio.run(scenario())
