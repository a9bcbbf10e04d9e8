"""`payplane certs init`: the local CA and per-service certificates for mutual TLS."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from payplane.config import get_settings

certs = typer.Typer(help="Certificates for mutual TLS between services.", no_args_is_help=True)
console = Console(stderr=True)


@certs.command("init")
def init(
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Where to write them; default: $PAYPLANE_HOME/certs"),
    ] = None,
    days: int = typer.Option(365, "--days", min=1, help="Validity of every certificate"),
    force: bool = typer.Option(False, "--force", help="Replace the CA and every certificate"),
) -> None:
    """Create a local CA and a key and certificate for vault, core-api, core-worker and
    vault-admin; only what is missing unless --force."""
    from payplane.runtime.tls import init_certificates

    target = directory or get_settings().home / "certs"
    written = init_certificates(target, days=days, force=force)
    if not written:
        console.print(f"certificates in {target} exist; kept (--force replaces them)")
        return
    console.print(f"[green]wrote {', '.join(written)} to {target}[/green]")
