"""`payplane certs init`: the local CA and per-service certificates, and whom the vault takes
them for."""

from __future__ import annotations

import ipaddress
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from typer.testing import CliRunner

from card_vault.errors import VaultError
from card_vault.identity import Gate, service_of
from payplane.cli.main import app
from payplane.runtime.tls import SERVICES, Issued, issue, issue_ca, read_pair

ALLOWED = {"forward": ["core-api"], "keys": ["vault-admin"]}


def load(directory: Path, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((directory / f"{name}.crt").read_bytes())


def scope_with(certificate: x509.Certificate) -> dict[str, object]:
    pem = certificate.public_bytes(Encoding.PEM).decode()
    return {"extensions": {"tls": {"client_cert_chain": [pem]}}}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    result = CliRunner().invoke(app, ["certs", "init", "--dir", str(directory), "--days", "30"])
    assert result.exit_code == 0, result.output
    return directory


def test_every_service_gets_a_private_key_and_a_certificate(certs: Path) -> None:
    assert sorted(p.name for p in certs.iterdir()) == sorted(
        f"{name}.{ext}" for name in ["ca", *SERVICES] for ext in ("crt", "key")
    )
    for key in certs.glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert stat.S_IMODE(certs.stat().st_mode) == 0o700


def test_the_ca(certs: Path) -> None:
    ca = load(certs, "ca")
    assert ca.subject == ca.issuer
    ca.verify_directly_issued_by(ca)
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign


@pytest.mark.parametrize("service", list(SERVICES))
def test_service_certificates(certs: Path, service: str) -> None:
    ca, cert = load(certs, "ca"), load(certs, service)
    cert.verify_directly_issued_by(ca)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == service
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.UniformResourceIdentifier) == [
        f"spiffe://payplane/{service}"
    ]
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    key_usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert key_usage.digital_signature
    assert not key_usage.key_cert_sign
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    if SERVICES[service] == "server":
        assert names.get_values_for_type(x509.DNSName) == ["localhost"]
        assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
        assert list(usages) == [ExtendedKeyUsageOID.SERVER_AUTH]
    else:
        assert names.get_values_for_type(x509.DNSName) == []
        assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    now = datetime.now(UTC)
    assert cert.not_valid_before_utc <= now < cert.not_valid_after_utc
    assert timedelta(days=29) < cert.not_valid_after_utc - now <= timedelta(days=30)


def test_init_is_idempotent_unless_forced(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["certs", "init", "--dir", str(tmp_path)]).exit_code == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    again = runner.invoke(app, ["certs", "init", "--dir", str(tmp_path)])
    assert again.exit_code == 0
    assert "kept" in again.output
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    # A lost service pair is issued again by the same CA.
    (tmp_path / "core-worker.key").unlink()
    assert runner.invoke(app, ["certs", "init", "--dir", str(tmp_path)]).exit_code == 0
    assert (tmp_path / "ca.crt").read_bytes() == before["ca.crt"]
    assert (tmp_path / "core-api.crt").read_bytes() == before["core-api.crt"]
    load(tmp_path, "core-worker").verify_directly_issued_by(load(tmp_path, "ca"))
    forced = runner.invoke(app, ["certs", "init", "--dir", str(tmp_path), "--force"])
    assert forced.exit_code == 0
    assert all((tmp_path / n).read_bytes() != before[n] for n in before if n.endswith(".crt"))


def test_the_service_is_read_from_the_spiffe_id_or_the_common_name(certs: Path) -> None:
    ca = read_pair(certs, "ca")
    assert service_of(load(certs, "core-api")) == "core-api"
    assert service_of(load(certs, "vault-admin")) == "vault-admin"
    # A SPIFFE id of another trust domain names nobody, whatever the common name says.
    assert service_of(_with_uri(ca, "core-api", "spiffe://elsewhere/core-api")) is None
    assert service_of(_with_uri(ca, "core-api", "spiffe://payplane/a/b")) is None
    # Without any URI SAN, the common name is the service.
    assert service_of(_with_uri(ca, "core-worker", None)) == "core-worker"


def _with_uri(ca: Issued, common_name: str, uri: str | None) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
    )
    if uri is not None:
        names = [x509.UniformResourceIdentifier(uri)]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca.key, hashes.SHA256())


def test_the_gate_checks_the_service_per_capability(certs: Path) -> None:
    gate = Gate(ALLOWED)
    assert gate.check(scope_with(load(certs, "core-api")), "forward") == "core-api"
    assert gate.check(scope_with(load(certs, "vault-admin")), "keys") == "vault-admin"
    with pytest.raises(VaultError) as wrong:
        gate.check(scope_with(load(certs, "vault-admin")), "forward")
    assert (wrong.value.status, wrong.value.code) == (403, "service_not_allowed")
    assert wrong.value.message == (
        "The service 'vault-admin' may not forward authorizations; allowed: core-api."
    )
    with pytest.raises(VaultError, match="none was presented"):
        gate.check({}, "forward")
    with pytest.raises(VaultError, match="allowed: none"):
        gate.check(scope_with(load(certs, "core-api")), "payment_methods")
    with pytest.raises(ValueError, match="unknown capabilities"):
        Gate({"everything": ["core-api"]})


def test_expired_certificates_can_be_issued_for_tests() -> None:
    ca = issue_ca(days=1)
    now = datetime.now(UTC)
    expired = issue(
        ca, "core-api", server=False, not_before=now - timedelta(days=3),
        not_after=now - timedelta(days=1),
    ).certificate  # fmt: skip
    assert expired.not_valid_after_utc < now
    expired.verify_directly_issued_by(ca.certificate)
