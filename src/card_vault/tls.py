"""TLS for the internal port: client certificates required, and the caller's certificate handed
to the application as the ASGI TLS extension (scope["extensions"]["tls"]).

uvicorn verifies client certificates (CERT_REQUIRED against the deployment CA: no certificate,
another CA's or an expired one fails the handshake) but, in the version pinned here, does not
put the peer certificate in the scope; PeerCertificateProtocol adds it, per connection, to its
httptools protocol, and can go once uvicorn implements the extension itself.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from cryptography import x509
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# ASGI TLS extension: tls_version is the protocol's number from the TLS specification.
_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def server_context(cert_file: Path, key_file: Path, client_ca_file: Path | None) -> ssl.SSLContext:
    """The server side; with a CA file, every client must present a certificate it signed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    if client_ca_file is not None:
        context.load_verify_locations(cafile=client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def tls_extension(transport: asyncio.BaseTransport) -> dict[str, Any] | None:
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return {
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
    }


class PeerCertificateProtocol(HttpToolsProtocol):
    _tls: dict[str, Any] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._tls = tls_extension(transport)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._tls is not None:
            self.scope["extensions"] = cast(dict[str, dict[object, object]], {"tls": self._tls})


def peer_certificate(scope: Mapping[str, Any]) -> x509.Certificate | None:
    """The client's certificate from the ASGI TLS extension, if the connection has one."""
    tls = (scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    return x509.load_pem_x509_certificate(chain[0].encode()) if chain else None
