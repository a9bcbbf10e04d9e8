"""`card-vault serve`: the public and the internal port, served by one process.

One process, because CVCs live in its memory between tokenization (public port) and the first
forwarded authorization (internal port). Both uvicorn servers run on one event loop; SIGINT or
SIGTERM stops both.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
from collections.abc import Callable, Iterator
from typing import Literal

import structlog
import uvicorn
import uvloop
from fastapi import FastAPI

from card_vault.identity import Gate
from card_vault.internal_api import create_internal_app
from card_vault.logs import configure_logging
from card_vault.public_api import create_public_app
from card_vault.settings import Settings
from card_vault.tls import PeerCertificateProtocol, server_context
from card_vault.vault import Vault
from card_vault.wiring import open_vault

log = structlog.get_logger()


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # serve() below owns the signals, for both servers at once.
        yield


def _server(
    app: FastAPI,
    host: str,
    port: int,
    *,
    http: type[asyncio.Protocol] | Literal["httptools"],
    tls: Callable[[], ssl.SSLContext] | None,
) -> _Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=http,
        ssl_context_factory=(lambda *_: tls()) if tls is not None else None,
        lifespan="off",
        access_log=False,
        log_config=None,
    )
    return _Server(config)


async def _housekeeping(vault: Vault, settings: Settings) -> None:
    """Old forwarding requests are forgotten, now and every interval, in any number of vault
    processes (the DELETE is idempotent); a failed round is logged and tried again later."""
    while True:
        try:
            purged = await vault.purge_forwards(settings.forward_retention_seconds)
        except Exception:  # the servers keep running; the next round retries
            log.exception("purging forwarding requests failed")
        else:
            if purged:
                log.info("forwarding requests purged", count=purged)
        await asyncio.sleep(settings.housekeeping_interval_seconds)


async def serve(settings: Settings) -> None:
    gate = Gate(settings.allowed_clients)
    certificate = (settings.tls_cert_file, settings.tls_key_file)
    async with open_vault(settings) as vault:
        public = _server(
            create_public_app(vault),
            settings.host,
            settings.port,
            http="httptools",
            tls=(lambda: server_context(*certificate, None)) if settings.public_tls else None,
        )
        internal = _server(
            create_internal_app(vault, gate, rewrap_batch_size=settings.rewrap_batch_size),
            settings.internal_host,
            settings.internal_port,
            http=PeerCertificateProtocol,
            tls=lambda: server_context(*certificate, settings.tls_ca_file),
        )
        servers = (public, internal)

        def stop() -> None:
            for server in servers:
                server.should_exit = True

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        log.info(
            "card vault starting",
            public=f"{settings.host}:{settings.port}",
            internal=f"{settings.internal_host}:{settings.internal_port}",
        )
        tasks = [asyncio.ensure_future(server.serve()) for server in servers]
        housekeeping = asyncio.ensure_future(_housekeeping(vault, settings))
        # If either server stops (a signal, or a port already taken), the other stops too.
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        stop()
        housekeeping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await housekeeping
        await asyncio.gather(*tasks)


def run(settings: Settings) -> None:
    configure_logging(settings.log_level)
    uvloop.run(serve(settings))
