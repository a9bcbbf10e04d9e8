"""`payplane vault ...`: operate the card vault over its internal port as `vault-admin`."""

from __future__ import annotations

import json
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from payplane.config import Settings, get_settings

vault = typer.Typer(
    help="Operate the card vault (mutual TLS with the vault-admin certificate).",
    no_args_is_help=True,
)
console = Console(stderr=True)
ADMIN = "vault-admin"


@vault.command("rotate-key")
def rotate_key(
    timeout: float = typer.Option(
        600.0, "--timeout", min=1, help="How long to wait for every data key to be re-wrapped"
    ),
) -> None:
    """Make a new key-encryption key current and re-wrap every card's data key under it; the
    vault keeps serving meanwhile. Prints the key status as JSON."""
    settings = get_settings()
    with _admin_client(settings, timeout) as client:
        before = _call(client, "GET", "/internal/keys")
        console.print(f"current key version {before['current']}; {_per_version(before)}")
        with console.status("rotating: re-wrapping every data key under a new key version"):
            after = _call(client, "POST", "/internal/keys/rotate")
    console.print(
        f"[green]key version {after['current']} is current; {after['rewrapped']} data keys "
        f"re-wrapped[/green]; {_per_version(after)}. Retire an old version once it wraps none: "
        "card-vault retire-key VERSION."
    )
    typer.echo(json.dumps(after, indent=2))


def _per_version(status: dict[str, Any]) -> str:
    counts = ", ".join(f"v{version}: {n}" for version, n in sorted(status["versions"].items()))
    return f"data keys per version {counts}"


def _admin_client(settings: Settings, timeout: float) -> httpx.Client:
    from payplane.runtime.tls import client_context

    certs = settings.certs_path
    try:
        context = client_context(certs, ADMIN)
    except FileNotFoundError:
        console.print(f"[red]no {ADMIN} certificate in {certs}: run `payplane certs init`[/red]")
        raise typer.Exit(2) from None
    return httpx.Client(base_url=settings.vault_internal_base_url, verify=context, timeout=timeout)


def _call(client: httpx.Client, method: str, path: str) -> dict[str, Any]:
    try:
        response = client.request(method, path)
    except httpx.HTTPError as exc:
        console.print(
            f"[red]the card vault did not answer at {client.base_url} ({type(exc).__name__}); "
            "is it running (payplane up)?[/red]",
            highlight=False,
        )
        raise typer.Exit(1) from None
    body: dict[str, Any] = response.json()
    if response.status_code != 200:
        error = body.get("error") or {}
        message = f"{error.get('message')} ({error.get('code')})"
        console.print(f"[red]{escape(message)}[/red]", highlight=False)
        raise typer.Exit(1)
    return body
