"""`card-vault ...` (also `python -m card_vault ...`): serve, migrate, keys."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from card_vault.settings import Settings

app = typer.Typer(
    help="Payplane card vault: tokenizes card data and forwards it to PSPs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]{message}[/red]", highlight=False)
    return typer.Exit(1)


@app.command()
def serve() -> None:
    """Serve the public port (tokenization, card form) and the internal mTLS port."""
    from card_vault.server import run

    run(Settings())


@app.command()
def migrate(
    admin_url: str = typer.Option(
        ...,
        "--admin-url",
        envvar="CARD_VAULT_ADMIN_DATABASE_URL",
        help="A superuser's (or a role able to create roles and act as them) connection URL",
    ),
) -> None:
    """Create the card_vault role, the vault schema and its tables; idempotent."""
    from card_vault.migrations import migrate as run_migrations

    applied = run_migrations(admin_url, Settings().database_url)
    done = ", ".join(str(version) for version in applied) if applied else "none (up to date)"
    console.print(f"[green]vault schema migrated; applied: {done}[/green]")


@app.command("init-keys")
def init_keys(
    force: bool = typer.Option(False, "--force", help="Replace an existing key file"),
) -> None:
    """Create CARD_VAULT_KEY_FILE with a first key-encryption key and a fingerprint key."""
    from card_vault.keyring import create_key_file

    path = _key_file()
    if create_key_file(path, force=force):
        console.print(f"[green]created {path}[/green]")
    else:
        console.print(f"{path} exists; kept (use --force to replace it and lose every card)")


@app.command("rotate-key")
def rotate_key(
    resume: bool = typer.Option(
        False, "--resume", help="Add no key: finish re-wrapping under the current one"
    ),
) -> None:
    """Add a key-encryption key, make it current and re-wrap every data key under it."""
    settings = Settings()

    async def rotate() -> dict[str, Any]:
        from card_vault.wiring import open_vault

        async with open_vault(settings.model_copy(update={"db_pool_size": 2})) as vault:
            if resume:
                rewrapped = await vault.rewrap(settings.rewrap_batch_size)
                return await vault.key_status() | {"rewrapped": rewrapped}
            return await vault.rotate_keys(settings.rewrap_batch_size)

    _print_or_fail(rotate)


@app.command("retire-key")
def retire_key(version: int = typer.Argument(..., help="The key version to remove")) -> None:
    """Remove an old key-encryption key; refused while any data key is still wrapped by it."""
    settings = Settings()

    async def retire() -> dict[str, Any]:
        from card_vault.wiring import open_vault

        async with open_vault(settings.model_copy(update={"db_pool_size": 2})) as vault:
            return await vault.retire_key(version)

    _print_or_fail(retire)


def _print_or_fail(action: Callable[[], Coroutine[Any, Any, dict[str, Any]]]) -> None:
    from card_vault.errors import VaultError
    from card_vault.keyring import KeyMaterialError

    try:
        typer.echo(json.dumps(asyncio.run(action()), indent=2))
    except VaultError as exc:
        raise _fail(exc.message) from None
    except KeyMaterialError as exc:
        raise _fail(str(exc)) from None


def _key_file() -> Path:
    path = Settings().key_file
    if path is None:
        raise _fail("CARD_VAULT_KEY_FILE is not set")
    return path
