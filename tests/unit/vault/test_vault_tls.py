"""The internal port's TLS server context, handshaking in memory: which client certificates it
refuses, and why."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from card_vault.tls import server_context
from payplane.runtime.tls import Issued, init_certificates, issue, issue_ca, read_pair, write_pair


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    init_certificates(directory, days=1)
    return directory


def verdict(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return exc.verify_message
    return str(exc.reason)


def handshake(certs: Path, client: Issued | None, tmp_path: Path) -> str:
    """Run a TLS handshake between a client and the vault's server context in memory; the
    server's verdict: "ok" or the reason OpenSSL gives for refusing."""
    server = server_context(certs / "vault.crt", certs / "vault.key", certs / "ca.crt")
    context = ssl.create_default_context(cafile=certs / "ca.crt")
    if client is not None:
        write_pair(tmp_path, "client", client)
        context.load_cert_chain(tmp_path / "client.crt", tmp_path / "client.key")
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client_side = context.wrap_bio(c_in, c_out, server_hostname="localhost")
    server_side = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for side in (client_side, server_side):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as exc:
                if side is server_side:
                    return verdict(exc)
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    try:
        server_side.read()  # TLS 1.3: the server judges the client's certificate now
    except ssl.SSLWantReadError:
        return "ok"
    except ssl.SSLError as exc:
        return verdict(exc)
    return "ok"


def test_a_client_of_the_deployment_ca_is_accepted(certs: Path, tmp_path: Path) -> None:
    assert handshake(certs, read_pair(certs, "core-api"), tmp_path) == "ok"


def test_no_certificate_is_refused(certs: Path, tmp_path: Path) -> None:
    assert handshake(certs, None, tmp_path) == "PEER_DID_NOT_RETURN_A_CERTIFICATE"


def test_another_cas_certificate_is_refused(certs: Path, tmp_path: Path) -> None:
    stranger = issue(issue_ca(days=1), "core-api", server=False)
    assert handshake(certs, stranger, tmp_path) == "unable to get local issuer certificate"


def test_an_expired_certificate_is_refused(certs: Path, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    expired = issue(
        read_pair(certs, "ca"), "core-api", server=False,
        not_before=now - timedelta(days=3), not_after=now - timedelta(days=1),
    )  # fmt: skip
    assert handshake(certs, expired, tmp_path) == "certificate has expired"


def test_a_server_certificate_cannot_be_used_as_a_client_one(certs: Path, tmp_path: Path) -> None:
    assert handshake(certs, read_pair(certs, "vault"), tmp_path) == "unsuitable certificate purpose"


def test_certificates_close_to_expiry_are_reissued_and_fresh_ones_kept(tmp_path: Path) -> None:
    init_certificates(tmp_path)
    assert init_certificates(tmp_path) == []  # all fresh: nothing rewritten
    ca = read_pair(tmp_path, "ca")
    soon = datetime.now(UTC) + timedelta(days=10)
    write_pair(tmp_path, "core-api", issue(ca, "core-api", server=False, not_after=soon))

    assert init_certificates(tmp_path) == ["core-api"]
    renewed = read_pair(tmp_path, "core-api").certificate
    assert renewed.not_valid_after_utc > datetime.now(UTC) + timedelta(days=300)
    assert read_pair(tmp_path, "ca").certificate == ca.certificate  # same CA signs it

    write_pair(tmp_path, "ca", issue_ca(days=20))
    written = init_certificates(tmp_path)
    assert written[0] == "ca"
    assert set(written) == {"ca", "vault", "core-api", "core-worker", "vault-admin"}
