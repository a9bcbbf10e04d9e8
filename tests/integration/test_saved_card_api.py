"""The core's side of saved cards on the real database: copied from the vault on first sight and
never asked for again, another merchant's card missing, attach/detach with events and audit
rows, the PaymentMethods API over the copies, card details refused, and publishable keys the
vault missed registered later. The vault is a fake here; the e2e suite runs the real one."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import psycopg
import pytest
from access_support import api_client, auth, merchant
from fastapi.testclient import TestClient
from pg_support import app_pool
from psycopg.rows import dict_row

from payplane.adapters.clock import SystemClock
from payplane.adapters.db.uow import PgUnitOfWorkFactory
from payplane.domain.errors import PspUnavailable, ResourceMissing
from payplane.domain.ids import new_id
from payplane.domain.saved_card import SavedCard
from payplane.services.connectors import Connectors
from payplane.services.idempotency import RequestShape
from payplane.services.payment_method_ports import PublishableKey, VaultUnavailable
from payplane.services.payment_methods import PaymentMethodService
from payplane.services.ports import RequestContext
from payplane.services.runner import AttemptRunner

T = TypeVar("T")


class FakeVault:
    """Holds cards per merchant; `down` makes it unreachable."""

    def __init__(self) -> None:
        self.cards: dict[str, SavedCard] = {}
        self.asked: list[tuple[str, str]] = []
        self.registered: dict[str, str] = {}
        self.down = False

    async def saved_card(self, merchant_id: str, card_id: str) -> SavedCard | None:
        self.asked.append((merchant_id, card_id))
        if self.down:
            raise VaultUnavailable("connection refused")
        card = self.cards.get(card_id)
        return card if card is not None and card.merchant_id == merchant_id else None

    async def register_publishable_key(self, key: PublishableKey) -> None:
        if self.down:
            raise VaultUnavailable("connection refused")
        self.registered[key.key] = key.merchant_id

    def save(self, merchant_id: str, last4: str = "4242") -> SavedCard:
        card = SavedCard(
            id="pm_" + secrets.token_hex(12),
            merchant_id=merchant_id,
            brand="visa",
            last4=last4,
            exp_month=12,
            exp_year=2034,
            fingerprint="Fp" + last4 * 3 + "abcdef",
            funding="credit",
            country=None,
            billing_name="Ada Lovelace",
            created=1_700_000_000,
        )
        self.cards[card.id] = card
        return card


def with_service(
    database_url: str, vault: FakeVault, work: Callable[[PaymentMethodService], Awaitable[T]]
) -> T:
    async def main() -> T:
        async with app_pool(database_url, size=2) as pool:
            runner = AttemptRunner(
                PgUnitOfWorkFactory(pool),
                Connectors([_NoPsp()]),
                SystemClock(),
                lock_seconds=5,
                capture_window=3600,
            )
            return await work(PaymentMethodService(runner, vault))

    return asyncio.run(main())


class _NoPsp:
    """Attach and detach never reach a PSP; the runner only needs a connector to hold."""

    name = "none"
    methods: ClassVar[dict[str, Any]] = {}


def ctx(merchant_id: str, key: str | None = None) -> RequestContext:
    return RequestContext(merchant_id, "secret_key:test", new_id("req"), key)


def rows(database_url: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def test_a_card_is_copied_from_the_vault_once(database_url: str) -> None:
    mine, theirs = merchant(database_url)[0], merchant(database_url)[0]
    vault = FakeVault()
    card = vault.save(mine)

    async def work(service: PaymentMethodService) -> list[Any]:
        first = await service.retrieve(ctx(mine), card.id)
        again = await service.retrieve(ctx(mine), card.id)
        outcomes: list[Any] = [first, again]
        for who, card_id in ((theirs, card.id), (mine, "pm_card_visa")):
            try:
                await service.retrieve(ctx(who), card_id)
            except ResourceMissing as exc:
                outcomes.append((exc.code, exc.param))
        await service.check_usable(ctx(mine), "pm_card_visa")  # test tokens: the PSP judges
        return outcomes

    first, again, other, test_token = with_service(database_url, vault, work)
    assert first == again == card.as_stripe_object()
    assert other == test_token == ("resource_missing", "payment_method")
    # Asked once for the owner, once for the other merchant; never about a test token.
    assert vault.asked == [(mine, card.id), (theirs, card.id)]
    (row,) = rows(database_url, "SELECT * FROM payment_methods WHERE id = %s", card.id)
    assert (row["merchant_id"], row["card_last4"], row["card_fingerprint"]) == (
        mine, "4242", card.fingerprint
    )  # fmt: skip


def test_a_vault_that_is_down_is_an_api_error_and_nothing_is_kept(database_url: str) -> None:
    mine = merchant(database_url)[0]
    vault = FakeVault()
    card = vault.save(mine)
    vault.down = True
    with pytest.raises(PspUnavailable) as down:
        with_service(database_url, vault, lambda s: s.check_usable(ctx(mine), card.id))
    assert down.value.code == "vault_unavailable"
    assert rows(database_url, "SELECT 1 FROM payment_methods WHERE id = %s", card.id) == []


def test_attach_and_detach_are_idempotent_events_with_audit_rows(database_url: str) -> None:
    mine = merchant(database_url)[0]
    vault = FakeVault()
    card = vault.save(mine)
    shape = RequestShape("POST", f"/v1/payment_methods/{card.id}/attach", "fp-attach")
    key = new_id("idem")

    async def work(service: PaymentMethodService) -> list[Any]:
        attached = await service.attach(ctx(mine, key), shape, card.id, "cus_42")
        replayed = await service.attach(ctx(mine, key), shape, card.id, "cus_42")
        again = await service.attach(ctx(mine), shape, card.id, "cus_42")  # no change
        detach = RequestShape("POST", f"/v1/payment_methods/{card.id}/detach", "fp-detach")
        detached = await service.detach(ctx(mine), detach, card.id)
        return [attached, replayed, again, detached]

    attached, replayed, again, detached = with_service(database_url, vault, work)
    assert attached.body["customer"] == "cus_42"
    assert (replayed.replayed, replayed.body) == (True, attached.body)
    assert again.body == attached.body
    assert detached.body == replace(card, customer=None).as_stripe_object()
    events = rows(
        database_url, "SELECT type FROM events WHERE object_id = %s ORDER BY created", card.id
    )
    assert [e["type"] for e in events] == ["payment_method.attached", "payment_method.detached"]
    audit = rows(
        database_url, "SELECT action, detail FROM audit_log WHERE object_id = %s ORDER BY id",
        card.id,
    )  # fmt: skip
    assert [(a["action"], a["detail"]["customer"]) for a in audit] == [
        ("payment_method.attached", "cus_42"), ("payment_method.detached", "cus_42")
    ]  # fmt: skip


def test_keys_the_vault_missed_are_registered_when_it_is_back(database_url: str) -> None:
    merchant_id, _ = merchant(database_url)  # made without a vault to tell
    (made,) = rows(
        database_url, "SELECT * FROM publishable_keys WHERE merchant_id = %s", merchant_id
    )
    assert made["key"].startswith("pk_test_")
    assert made["registered_with_vault_at"] is None
    vault = FakeVault()
    vault.down = True

    async def catch_up(service: PaymentMethodService) -> int:
        total = 0
        while done := await service.register_publishable_keys(limit=100):
            total += done
        return total

    assert with_service(database_url, vault, catch_up) == 0
    vault.down = False
    assert with_service(database_url, vault, catch_up) >= 1
    assert vault.registered[made["key"]] == merchant_id
    (after,) = rows(database_url, "SELECT * FROM publishable_keys WHERE key = %s", made["key"])
    assert after["registered_with_vault_at"] is not None
    assert with_service(database_url, vault, catch_up) == 0  # nothing left to tell


@pytest.fixture(scope="module")
def client(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    # A home without certificates: this app has no vault to ask.
    with api_client(database_url, home=tmp_path_factory.mktemp("no-vault")) as api:
        yield api


def test_card_details_are_refused_with_where_to_send_them(
    client: TestClient, database_url: str
) -> None:
    _, secret = merchant(database_url)
    refused = client.post(
        "/v1/payment_methods",
        data={"type": "card", "card[number]": "4242424242424242", "card[cvc]": "123"},
        headers=auth(secret),
    )
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error", "card_details_not_accepted", "card"
    )  # fmt: skip
    assert "http://127.0.0.1:8200/v1/payment_methods" in error["message"]
    assert "publishable key" in error["message"]
    assert "4242424242424242" not in refused.text


def test_the_api_over_the_core_copies(client: TestClient, database_url: str) -> None:
    merchant_id, secret = merchant(database_url)
    _, other_secret = merchant(database_url)
    vault = FakeVault()
    cards = [vault.save(merchant_id, last4) for last4 in ("4242", "4444", "0005")]

    async def copy(service: PaymentMethodService) -> None:
        for card in cards:
            await service.check_usable(ctx(merchant_id), card.id)

    with_service(database_url, vault, copy)
    mine, theirs = auth(secret), auth(other_secret)
    first = cards[0].id
    got = client.get(f"/v1/payment_methods/{first}", headers=mine)
    assert got.json() == cards[0].as_stripe_object()
    # This app has no vault to ask whether a card the core has not seen is the caller's.
    unseen = client.get(f"/v1/payment_methods/{first}", headers=theirs)
    assert (unseen.status_code, unseen.json()["error"]["code"]) == (502, "vault_unavailable")
    not_a_card = client.get("/v1/payment_methods/pm_card_visa", headers=mine)
    assert (not_a_card.status_code, not_a_card.json()["error"]["param"]) == (
        404, "payment_method"
    )  # fmt: skip
    attached = client.post(
        f"/v1/payment_methods/{first}/attach", data={"customer": "cus_7"}, headers=mine
    )
    assert attached.json()["customer"] == "cus_7"
    listed = client.get("/v1/payment_methods", params={"customer": "cus_7"}, headers=mine)
    assert [m["id"] for m in listed.json()["data"]] == [first]
    page = client.get("/v1/payment_methods", params={"limit": 2, "type": "card"}, headers=mine)
    body = page.json()
    assert (body["object"], body["url"], body["has_more"]) == ("list", "/v1/payment_methods", True)
    assert [m["id"] for m in body["data"]] == [cards[2].id, cards[1].id]  # newest first
    rest = client.get(
        "/v1/payment_methods", params={"starting_after": cards[1].id}, headers=mine
    ).json()
    assert [m["id"] for m in rest["data"]] == [first]
    assert client.get("/v1/payment_methods", headers=theirs).json()["data"] == []
    detached = client.post(f"/v1/payment_methods/{first}/detach", headers=mine)
    assert detached.json()["customer"] is None
    twice = client.post(f"/v1/payment_methods/{first}/detach", headers=mine)
    assert (twice.status_code, twice.json()["error"]["code"]) == (
        400, "payment_method_unexpected_state"
    )  # fmt: skip


def test_the_vault_env_never_uses_the_cores_password(tmp_path: Path) -> None:
    from payplane.config import Settings
    from payplane.runtime.vault import vault_env

    settings = Settings(home=tmp_path, vault_port=9200, vault_internal_port=9201)
    env = vault_env(settings, "postgresql://payplane:secret@db.example:5432/payplane")
    assert env["CARD_VAULT_DATABASE_URL"] == (
        "user=card_vault dbname=payplane host=db.example port=5432"
    )
    assert env["CARD_VAULT_KEY_FILE"] == str(tmp_path / "vault" / "keys.json")
    assert env["CARD_VAULT_TLS_CA_FILE"] == str(tmp_path / "certs" / "ca.crt")
