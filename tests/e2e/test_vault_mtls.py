"""The vault's internal port over real TLS: who may call it, and forwarding to the real PSP
simulator with the card inserted by the vault."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from payplane.runtime.tls import Issued, issue, issue_ca, read_pair, write_pair

REFUSED = (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)


def context_for(vault: Any, tmp_path: Path, issued: Issued) -> ssl.SSLContext:
    """A client context trusting the deployment CA and presenting `issued`."""
    write_pair(tmp_path, "client", issued)
    context = ssl.create_default_context(cafile=vault.certs / "ca.crt")
    context.load_cert_chain(tmp_path / "client.crt", tmp_path / "client.key")
    return context


def forward(client: httpx.Client, vault: Any, payment_method: str, key: str) -> httpx.Response:
    return client.post(
        "/internal/forward/authorizations",
        json={
            "merchant_id": vault.merchant_id,
            "payment_method": payment_method,
            "psp_request": {"amount": 1500, "currency": "usd", "merchant_reference": key},
        },
        headers={"Idempotency-Key": key},
    )


def test_the_right_service_is_served(vault: Any) -> None:
    method = vault.tokenize()
    with vault.internal("core-api") as core:
        read = core.get(
            f"/internal/payment_methods/{method['id']}", params={"merchant_id": vault.merchant_id}
        )
        assert read.status_code == 200
        assert read.json() == method
        authorized = forward(core, vault, method["id"], f"e2e-{method['id']}")
    assert authorized.status_code == 200, authorized.text
    body = authorized.json()
    assert (body["status"], body["amount"], body["payment_method"]) == (
        "authorized", 1500, "card_visa_4242"
    )  # fmt: skip
    assert "4242424242424242" not in authorized.text


def test_a_challenge_card_gets_the_psps_next_action(vault: Any) -> None:
    method = vault.tokenize(number="4000002760003184")  # 3-D Secure required
    with vault.internal("core-api") as core:
        answer = core.post(
            "/internal/forward/authorizations",
            json={
                "merchant_id": vault.merchant_id,
                "payment_method": method["id"],
                "psp_request": {
                    "amount": 700, "currency": "eur", "merchant_reference": "e2e-3ds",
                    "capture": True, "return_url": "https://shop.example/back",
                },
            },
            headers={"Idempotency-Key": f"e2e-3ds-{method['id']}"},
        )  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "requires_action"
    assert answer.json()["next_action"]["type"] == "redirect"


def test_the_right_ca_but_the_wrong_service_is_forbidden(vault: Any) -> None:
    method = vault.tokenize()
    with vault.internal("vault-admin") as admin:
        refused = forward(admin, vault, method["id"], "e2e-wrong-service")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "service_not_allowed"
    assert "vault-admin" in refused.json()["error"]["message"]


def test_no_client_certificate_is_refused_in_the_handshake(vault: Any) -> None:
    context = ssl.create_default_context(cafile=vault.certs / "ca.crt")
    with vault.internal_with(context) as anonymous, pytest.raises(REFUSED):
        anonymous.get("/healthz")


def test_a_certificate_from_another_ca_is_refused(vault: Any, tmp_path: Path) -> None:
    stranger = issue(issue_ca("Someone else's CA", days=1), "core-api", server=False)
    client = vault.internal_with(context_for(vault, tmp_path, stranger))
    with client, pytest.raises(REFUSED):
        client.get("/healthz")


def test_an_expired_certificate_is_refused(vault: Any, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    expired = issue(
        read_pair(vault.certs, "ca"), "core-api", server=False,
        not_before=now - timedelta(days=10), not_after=now - timedelta(days=1),
    )  # fmt: skip
    client = vault.internal_with(context_for(vault, tmp_path, expired))
    with client, pytest.raises(REFUSED):
        client.get("/healthz")
    # The same CA and service, in date: accepted, so the expiry alone was the reason.
    fresh = issue(read_pair(vault.certs, "ca"), "core-api", server=False)
    with vault.internal_with(context_for(vault, tmp_path, fresh)) as client:
        assert client.get("/healthz").status_code == 200


def test_the_server_key_is_private(vault: Any) -> None:
    key = serialization.load_pem_private_key((vault.certs / "vault.key").read_bytes(), None)
    assert key.key_size == 256
    assert (vault.certs / "vault.key").stat().st_mode & 0o077 == 0


def test_keys_rotate_under_a_running_vault(vault: Any) -> None:
    before = vault.tokenize()
    rotated = vault.cli("rotate-key")
    assert '"rewrapped"' in rotated
    after = vault.tokenize(number="5555555555554444")
    with vault.internal("vault-admin") as admin:
        status = admin.get("/internal/keys").json()
        assert set(status["versions"]) >= {"1", "2"}
        assert status["versions"]["1"] == 0
        retired = admin.delete("/internal/keys/1")
        assert retired.status_code == 200, retired.text
        assert "1" not in retired.json()["versions"]
    with vault.internal("core-worker") as worker:
        for method, brand in ((before, "visa"), (after, "mastercard")):
            answer = forward(worker, vault, method["id"], f"e2e-rotated-{method['id']}")
            assert answer.status_code == 200, answer.text
            assert answer.json()["payment_method"] == f"card_{brand}_{method['card']['last4']}"


def test_the_vault_log_holds_no_card_data(vault: Any) -> None:
    vault.tokenize(number="6011111111111117", cvc="987")
    log = vault.child.log_path.read_text()
    assert "card tokenized" in log
    for number in ("4242424242424242", "5555555555554444", "6011111111111117"):
        assert number not in log
    assert '"cvc"' not in log  # a CVC's three digits could occur anywhere; its field cannot
