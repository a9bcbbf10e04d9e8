"""The vault's HTTP surface, in-process over the real database: tokenization with publishable
keys, bad input that stores nothing, the form without a browser, and the internal routes
with the caller's certificate as the mTLS port hands it over."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import psycopg
import pytest
from vault_support import (
    CapturingPsp,
    as_service,
    client,
    migrated,
    new_merchant_id,
    new_publishable_key,
    vault_with_fake_psp,
)

from card_vault.identity import Gate
from card_vault.internal_api import create_internal_app
from card_vault.public_api import create_public_app
from card_vault.settings import DEFAULT_ALLOWED_CLIENTS

PAN = "4242424242424242"
CARD = {
    "type": "card",
    "card[number]": PAN,
    "card[exp_month]": "12",
    "card[exp_year]": "2030",
    "card[cvc]": "123",
    "billing_details[name]": "Ada Lovelace",
}


@pytest.fixture(scope="module")
def vault_url(database_url: str) -> str:
    return migrated(database_url)


@dataclass
class Apps:
    public: httpx.AsyncClient
    internal: Callable[[str], httpx.AsyncClient]  # as the named service
    merchant: str
    key: str
    psp: CapturingPsp


@asynccontextmanager
async def apps(database_url: str, key_file: Path) -> AsyncIterator[Apps]:
    psp = CapturingPsp()
    async with vault_with_fake_psp(database_url, key_file, psp) as vault:
        gate = Gate(DEFAULT_ALLOWED_CLIENTS)
        internal_app = create_internal_app(vault, gate, rewrap_batch_size=10)
        public_app = create_public_app(vault, clock=lambda: 1_800_000_000.0,
                                       today=lambda: date(2026, 6, 15))  # fmt: skip
        merchant, key = new_merchant_id(), new_publishable_key()
        async with client(public_app) as public:
            yield Apps(
                public, lambda service: client(as_service(internal_app, service)), merchant, key,
                psp,
            )  # fmt: skip


def scenario(database_url: str, tmp_path: Path, body: Callable[[Apps], Awaitable[None]]) -> None:
    async def main() -> None:
        async with apps(database_url, tmp_path / "keys.json") as running:
            async with running.internal("core-api") as core:
                registered = await core.put(
                    f"/internal/publishable_keys/{running.key}",
                    json={"merchant_id": running.merchant},
                )
                assert registered.status_code == 200, registered.text
            await body(running)

    asyncio.run(main())


def cards_of(vault_url: str, merchant: str) -> int:
    with psycopg.connect(vault_url) as conn:
        row = conn.execute("SELECT count(*) FROM vault.cards WHERE merchant_id = %s", (merchant,))
        return int(row.fetchone()[0])  # type: ignore[index]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.usefixtures("vault_url")
def test_tokenize_form_encoded_and_json(database_url: str, tmp_path: Path) -> None:
    async def body(app: Apps) -> None:
        form = await app.public.post("/v1/payment_methods", data=CARD, headers=auth(app.key))
        assert form.status_code == 200, form.text
        method = form.json()
        assert PAN not in form.text
        assert method["id"].startswith("pm_")
        assert {k: method[k] for k in ("object", "type", "created", "livemode", "customer",
                                       "metadata")} == {
            "object": "payment_method", "type": "card", "created": 1_800_000_000,
            "livemode": False, "customer": None, "metadata": {},
        }  # fmt: skip
        assert method["card"]["brand"] == "visa"
        assert method["billing_details"]["name"] == "Ada Lovelace"
        as_json = await app.public.post(
            "/v1/payment_methods",
            json={"type": "card", "card": {"number": "5555555555554444", "exp_month": 1,
                                           "exp_year": 2031}},
            auth=(app.key, ""),  # curl -u pk_...:
        )  # fmt: skip
        assert as_json.status_code == 200, as_json.text
        assert as_json.json()["card"]["brand"] == "mastercard"
        async with app.internal("core-worker") as core:
            read = await core.get(
                f"/internal/payment_methods/{method['id']}", params={"merchant_id": app.merchant}
            )
            listed = await core.get("/internal/payment_methods",
                                    params={"merchant_id": app.merchant, "limit": 1})  # fmt: skip
            rest = await core.get("/internal/payment_methods", params={
                "merchant_id": app.merchant, "starting_after": listed.json()["data"][0]["id"]
            })  # fmt: skip
        assert read.json() == method
        assert listed.json()["has_more"] is True
        assert len(listed.json()["data"]) == len(rest.json()["data"]) == 1
        assert rest.json()["has_more"] is False
        assert {listed.json()["data"][0]["id"], rest.json()["data"][0]["id"]} == {
            method["id"], as_json.json()["id"]
        }  # fmt: skip

    scenario(database_url, tmp_path, body)


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "api_key_missing"),
        ({"Authorization": "Bearer pk_test_unknownunknownunknown"}, 401, "api_key_invalid"),
        ({"Authorization": "Bearer sk_test_secretsecret"}, 401, "secret_key_not_allowed"),
        ({"Authorization": "Bearer garbage"}, 401, "api_key_invalid"),
    ],
)
def test_keys_the_vault_does_not_know_are_refused(
    database_url: str, vault_url: str, tmp_path: Path, headers: dict[str, str], status: int,
    code: str,
) -> None:  # fmt: skip
    async def body(app: Apps) -> None:
        refused = await app.public.post("/v1/payment_methods", data=CARD, headers=headers)
        assert (refused.status_code, refused.json()["error"]["code"]) == (status, code)
        assert cards_of(vault_url, app.merchant) == 0

    scenario(database_url, tmp_path, body)


BAD_INPUT = [
    ({"card[number]": "4242424242424241"}, 402, "card_error", "incorrect_number", "card[number]"),
    ({"card[number]": "42"}, 402, "card_error", "invalid_number", "card[number]"),
    ({"card[exp_month]": "13"}, 402, "card_error", "invalid_expiry_month", "card[exp_month]"),
    ({"card[exp_year]": "2020"}, 402, "card_error", "invalid_expiry_year", "card[exp_year]"),
    ({"card[cvc]": "1"}, 402, "card_error", "invalid_cvc", "card[cvc]"),
    ({"type": "sepa_debit"}, 400, "invalid_request_error", "parameter_invalid", "type"),
    ({"type": None}, 400, "invalid_request_error", "parameter_missing", "type"),
    ({"card[number]": None}, 400, "invalid_request_error", "parameter_missing", "card[number]"),
    ({"metadata[order]": "1"}, 400, "invalid_request_error", "parameter_unknown", "metadata"),
    ({"card[pin]": "1234"}, 400, "invalid_request_error", "parameter_unknown", "card[pin]"),
    # A card number where a parameter's name goes is not echoed back either.
    ({PAN: "x"}, 400, "invalid_request_error", "parameter_unknown", "[PAN ...4242]"),
]


@pytest.mark.parametrize(("change", "status", "type_", "code", "param"), BAD_INPUT)
def test_bad_card_data_is_refused_precisely_and_stores_nothing(
    database_url: str, vault_url: str, tmp_path: Path, change: dict[str, str | None],
    status: int, type_: str, code: str, param: str,
) -> None:  # fmt: skip
    data = {k: v for k, v in (CARD | change).items() if v is not None}

    async def body(app: Apps) -> None:
        refused = await app.public.post("/v1/payment_methods", data=data, headers=auth(app.key))
        error = refused.json()["error"]
        assert refused.status_code == status
        assert (error["type"], error["code"], error["param"]) == (type_, code, param)
        assert PAN not in refused.text
        assert cards_of(vault_url, app.merchant) == 0

    scenario(database_url, tmp_path, body)


def test_oversized_and_wrongly_typed_bodies(
    database_url: str, vault_url: str, tmp_path: Path
) -> None:
    async def body(app: Apps) -> None:
        post = app.public.post
        big = await post("/v1/payment_methods", data=CARD | {"billing_details[name]": "x" * 17_000},
                         headers=auth(app.key))  # fmt: skip
        assert (big.status_code, big.json()["error"]["code"]) == (413, "request_too_large")

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(20):  # no Content-Length: the cap holds while streaming
                yield b"a" * 1024

        streamed = await post("/v1/payment_methods", content=chunks(), headers=auth(app.key) | {
            "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert streamed.status_code == 413
        xml = await post("/v1/payment_methods", content=b"<card/>",
                         headers=auth(app.key) | {"Content-Type": "application/xml"})  # fmt: skip
        assert xml.status_code == 415
        assert xml.json()["error"]["message"] == (
            "Unsupported Content-Type 'application/xml': send application/x-www-form-urlencoded "
            "or application/json. Nothing was stored."
        )
        json_type = {"Content-Type": "application/json"}
        broken = await post("/v1/payment_methods", content=b'{"card": ',
                            headers=auth(app.key) | json_type)  # fmt: skip
        assert (broken.status_code, broken.json()["error"]["code"]) == (400, "invalid_request_body")
        assert cards_of(vault_url, app.merchant) == 0

    scenario(database_url, tmp_path, body)


def test_the_form_without_a_browser(database_url: str, vault_url: str, tmp_path: Path) -> None:
    fields = {"card_number": PAN, "exp_month": "12", "exp_year": "2030", "cvc": "123",
              "name": "Ada"}  # fmt: skip

    async def body(app: Apps) -> None:
        page = await app.public.get("/form", params={"key": app.key})
        assert page.status_code == 200
        assert 'id="card-number"' in page.text
        assert "form-action 'self'" in page.headers["content-security-policy"]
        unknown = await app.public.get("/form", params={"key": "pk_test_nobodynobodynobody"})
        assert unknown.status_code == 401
        bad_redirect = await app.public.get(
            "/form", params={"key": app.key, "redirect_url": "javascript:alert(1)"}
        )
        assert bad_redirect.status_code == 400
        redirected = await app.public.post("/form", data=fields | {
            "key": app.key, "redirect_url": "https://shop.example/done?order=7"})  # fmt: skip
        assert redirected.status_code == 303
        location = redirected.headers["location"]
        assert location.startswith("https://shop.example/done?order=7&payment_method=pm_")
        wrong = await app.public.post(
            "/form", data=fields | {"key": app.key, "card_number": "4242424242424241"}
        )
        assert wrong.status_code == 400
        assert "Your card number is incorrect." in wrong.text
        assert "4242424242424241" not in wrong.text  # the number is not written back
        assert 'id="card-number" name="card_number" value=""' in wrong.text
        assert 'aria-invalid="true"' in wrong.text
        json_post = await app.public.post("/form", json=fields | {"key": app.key})
        assert json_post.status_code == 415
        assert cards_of(vault_url, app.merchant) == 1

    scenario(database_url, tmp_path, body)


@pytest.mark.usefixtures("vault_url")
def test_internal_routes_check_the_calling_service(database_url: str, tmp_path: Path) -> None:
    async def body(app: Apps) -> None:
        made = await app.public.post("/v1/payment_methods", data=CARD, headers=auth(app.key))
        pm = made.json()["id"]
        request = {"merchant_id": app.merchant, "payment_method": pm,
                   "psp_request": {"amount": 1000, "currency": "usd",
                                   "merchant_reference": "pi_1"}}  # fmt: skip
        async with app.internal("vault-admin") as admin, app.internal("core-api") as core:
            forbidden = await admin.post("/internal/forward/authorizations", json=request,
                                         headers={"Idempotency-Key": "k1"})  # fmt: skip
            assert forbidden.status_code == 403
            assert forbidden.json()["error"]["message"] == (
                "The service 'vault-admin' may not forward authorizations; allowed: core-api, "
                "core-worker."
            )
            assert (await core.post("/internal/keys/rotate")).status_code == 403
            assert (await admin.get("/internal/keys")).json()["current"] == 1
            async with app.internal("payments-reporting") as stranger:
                read = await stranger.get(f"/internal/payment_methods/{pm}",
                                          params={"merchant_id": app.merchant})  # fmt: skip
                assert read.status_code == 403
            assert app.psp.requests == []

            no_key = await core.post("/internal/forward/authorizations", json=request)
            assert (no_key.status_code, no_key.json()["error"]["code"]) == (
                400, "idempotency_key_missing"
            )  # fmt: skip
            malformed = await core.post(
                "/internal/forward/authorizations",
                json=request | {"payment_method": "pm_card_visa"},
                headers={"Idempotency-Key": "k1"},
            )
            assert (malformed.status_code, malformed.json()["error"]["param"]) == (
                400, "payment_method"
            )  # fmt: skip
            theirs = await core.post(
                "/internal/forward/authorizations",
                json=request | {"merchant_id": new_merchant_id()},
                headers={"Idempotency-Key": "k1"},
            )
            assert (theirs.status_code, theirs.json()["error"]["param"]) == (404, "payment_method")
            extra = await core.post(
                "/internal/forward/authorizations",
                json=request | {"psp_request": request["psp_request"] | {"card": {}}},
                headers={"Idempotency-Key": "k1"},
            )
            assert (extra.status_code, extra.json()["error"]["param"]) == (
                400, "psp_request[card]"
            )  # fmt: skip
            assert app.psp.requests == []
            sent = await core.post("/internal/forward/authorizations", json=request,
                                   headers={"Idempotency-Key": "k1"})  # fmt: skip
            assert sent.status_code == 200, sent.text
            assert PAN not in sent.text
            replayed = await core.post(
                "/internal/forward/authorizations",
                json=request | {"psp_request": request["psp_request"] | {"amount": 5}},
                headers={"Idempotency-Key": "k1"},
            )
            assert (replayed.status_code, replayed.json()["error"]["type"]) == (
                409, "idempotency_error"
            )  # fmt: skip
            revoked = await core.delete(f"/internal/publishable_keys/{app.key}",
                                        params={"merchant_id": app.merchant})  # fmt: skip
            assert revoked.json()["deleted"] is True
        gone = await app.public.post("/v1/payment_methods", data=CARD, headers=auth(app.key))
        assert gone.status_code == 401
        assert len(app.psp.requests) == 1

    scenario(database_url, tmp_path, body)
