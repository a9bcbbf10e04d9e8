"""The deployment's certificates for mutual TLS: a local CA and one key and certificate per service.

Each certificate names its service with the URI SAN spiffe://payplane/<service> (and the common
name), which is what the card vault checks, beyond the CA's signature, before it answers.
Layout of the directory: ca.crt, ca.key, and <service>.crt, <service>.key; keys are mode 0600.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TRUST_DOMAIN = "payplane"
CA_NAME = "ca"
# The vault serves; the others call it (vault-admin is an operator's identity for key rotation).
SERVICES = {
    "vault": "server",
    "core-api": "client",
    "core-worker": "client",
    "vault-admin": "client",
}
# Clocks of the machines involved may disagree by a little.
_CLOCK_SKEW = timedelta(minutes=5)
# Certificates closer than this to their expiry are reissued by init_certificates.
_RENEW_WITHIN = timedelta(days=30)


@dataclass(frozen=True)
class Issued:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate


def spiffe_id(service: str) -> str:
    return f"spiffe://{TRUST_DOMAIN}/{service}"


def issue_ca(common_name: str = "Payplane local CA", *, days: int) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(key, certificate)


def issue(
    ca: Issued,
    service: str,
    *,
    server: bool,
    days: int = 365,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Issued:
    """A key and certificate for `service`, signed by `ca`: for TLS servers (SANs localhost
    and 127.0.0.1 too) or clients."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(spiffe_id(service))]
    if server:
        names += [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, service)]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - _CLOCK_SKEW)
        .not_valid_after(not_after or now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    return Issued(key, certificate)


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def write_pair(directory: Path, name: str, issued: Issued) -> None:
    key_path = directory / f"{name}.key"
    # Created with 0600 from the start: the key is never readable by others, even briefly.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(
            issued.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    key_path.chmod(0o600)  # in case the file existed with a wider mode
    (directory / f"{name}.crt").write_bytes(
        issued.certificate.public_bytes(serialization.Encoding.PEM)
    )


def read_pair(directory: Path, name: str) -> Issued:
    key = serialization.load_pem_private_key((directory / f"{name}.key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    certificate = x509.load_pem_x509_certificate((directory / f"{name}.crt").read_bytes())
    return Issued(key, certificate)


def _fresh(directory: Path, name: str, renew_within: timedelta) -> bool:
    """The pair exists and its certificate is valid for longer than `renew_within`."""
    certificate_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    if not (certificate_file.is_file() and key_file.is_file()):
        return False
    certificate = x509.load_pem_x509_certificate(certificate_file.read_bytes())
    return certificate.not_valid_after_utc - datetime.now(UTC) > renew_within


def init_certificates(directory: Path, *, days: int = 365, force: bool = False) -> list[str]:
    """Create what is missing or expires within 30 days (a third of `days` if that is shorter),
    everything with force; answers the names written. `payplane up` calls it at every start,
    so a platform restarted now and then never runs on an expired certificate. A new CA means
    new certificates for every service, since the old ones no longer verify."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    renew_within = min(_RENEW_WITHIN, timedelta(days=days) / 3)
    written = []
    if force or not _fresh(directory, CA_NAME, renew_within):
        ca = issue_ca(days=days)
        write_pair(directory, CA_NAME, ca)
        written.append(CA_NAME)
    else:
        ca = read_pair(directory, CA_NAME)
    new_ca = bool(written)
    for service, role in SERVICES.items():
        if new_ca or not _fresh(directory, service, renew_within):
            write_pair(directory, service, issue(ca, service, server=role == "server", days=days))
            written.append(service)
    return written


def client_context(directory: Path, service: str) -> ssl.SSLContext:
    """What `service` presents when it calls the vault's internal port, trusting only the CA."""
    context = ssl.create_default_context(cafile=directory / f"{CA_NAME}.crt")
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(directory / f"{service}.crt", directory / f"{service}.key")
    return context
