"""Which service is calling, read from its client certificate, and what it may do.

The certificate's URI SAN spiffe://payplane/<service> names the service; a certificate without
a URI SAN is named by its common name. A SPIFFE id of another trust domain names nothing: the
deployment CA signing a certificate is necessary, not sufficient.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from card_vault.errors import VaultError
from card_vault.tls import peer_certificate

TRUST_DOMAIN = "payplane"
SPIFFE_PREFIX = f"spiffe://{TRUST_DOMAIN}/"
# What each group of internal routes lets a caller do, for error messages.
CAPABILITIES = {
    "payment_methods": "read payment methods",
    "publishable_keys": "register or revoke publishable keys",
    "forward": "forward authorizations",
    "keys": "rotate or retire key-encryption keys",
}


def service_of(certificate: x509.Certificate) -> str | None:
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        uris = names.value.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    if uris:
        ours = [uri for uri in uris if uri.startswith(SPIFFE_PREFIX)]
        services = [uri.removeprefix(SPIFFE_PREFIX) for uri in ours]
        return services[0] if len(services) == 1 and "/" not in services[0] else None
    common_names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(common_names[0].value) if common_names else None


def forbidden(message: str) -> VaultError:
    return VaultError(403, "service_not_allowed", message)


class Gate:
    """The per-capability allow list of the internal API (CARD_VAULT_ALLOWED_CLIENTS)."""

    def __init__(self, allowed: Mapping[str, Sequence[str]]) -> None:
        unknown = set(allowed) - set(CAPABILITIES)
        if unknown:
            raise ValueError(
                f"unknown capabilities in the allow list: {', '.join(sorted(unknown))}; "
                f"known: {', '.join(CAPABILITIES)}"
            )
        self._allowed = {name: tuple(allowed.get(name, ())) for name in CAPABILITIES}

    def check(self, scope: Mapping[str, Any], capability: str) -> str:
        """The calling service, if it may use `capability`; else 403 saying why."""
        certificate = peer_certificate(scope)
        if certificate is None:
            raise forbidden("The internal API needs a client certificate; none was presented.")
        service = service_of(certificate)
        if service is None:
            raise forbidden(
                f"The client certificate names no service: it needs one URI SAN "
                f"{SPIFFE_PREFIX}<service> (or, without URI SANs, a common name)."
            )
        allowed = self._allowed[capability]
        if service not in allowed:
            raise forbidden(
                f"The service '{service}' may not {CAPABILITIES[capability]}; allowed: "
                f"{', '.join(allowed) or 'none'}."
            )
        return service
