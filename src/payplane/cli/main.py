"""`payplane ...`: run the platform, migrate, and operator commands for scripts and support."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import typer
from rich.console import Console

from payplane.cli.access import keys, operators
from payplane.cli.audit import audit
from payplane.cli.certs import certs
from payplane.cli.events import events
from payplane.cli.reconcile import reconcile, remediation
from payplane.cli.vault import vault
from payplane.config import get_settings

app = typer.Typer(
    help="Payplane: a self-hostable payment platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
merchants = typer.Typer(help="Merchants and their API keys.", no_args_is_help=True)
payments = typer.Typer(help="Look into payments.", no_args_is_help=True)
ledger = typer.Typer(help="Audit the ledger.", no_args_is_help=True)
app.add_typer(merchants, name="merchants")
app.add_typer(payments, name="payments")
app.add_typer(ledger, name="ledger")
app.add_typer(events, name="events")
app.add_typer(remediation, name="remediation", no_args_is_help=True)
app.command()(reconcile)
app.add_typer(certs, name="certs")
app.add_typer(audit, name="audit")
app.add_typer(operators, name="operators")
app.add_typer(keys, name="keys")
app.add_typer(vault, name="vault")
console = Console(stderr=True)


def _database_url() -> str:
    from payplane.wiring import database_url

    try:
        return database_url(get_settings())
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@app.command()
def up() -> None:
    """Start everything (embedded PostgreSQL unless PAYPLANE_DATABASE_URL is set) until Ctrl-C."""
    from payplane.runtime.launcher import up as launch

    launch(get_settings())


@app.command()
def migrate() -> None:
    """Apply database migrations to PAYPLANE_DATABASE_URL."""
    from payplane.bootstrap import migrate as run_migrations

    run_migrations(_database_url())
    console.print("[green]database is at the latest migration[/green]")


@merchants.command("create")
def create_merchant(name: str = typer.Option(..., "--name", help="The merchant's name")) -> None:
    """Create a merchant; prints JSON with its id, its publishable key and its secret key (shown
    only this once). The card vault learns the publishable key at once if it is up, else from
    the worker."""
    from payplane.bootstrap import create_merchant as create

    _print_json(create(_database_url(), name, get_settings()))


@payments.command("show")
def show_payment(intent_id: str) -> None:
    """A payment with its attempts, ledger entries, events and audit rows, as JSON."""
    from payplane.domain.errors import ResourceMissing
    from payplane.services.events import payment_story
    from payplane.wiring import build

    _database_url()  # fail with a clear message before building anything

    async def story() -> dict[str, Any]:
        container = await build(get_settings().model_copy(update={"db_pool_size": 2}))
        try:
            return await payment_story(container.uow, None, intent_id)
        finally:
            await container.aclose()

    try:
        _print_json(asyncio.run(story()))
    except ResourceMissing as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from None


@ledger.command("check")
def check_ledger() -> None:
    """Verify the ledger's invariants; prints the violations and exits 1 if there are any."""
    import psycopg
    from psycopg import IsolationLevel
    from rich.markup import escape
    from rich.table import Table

    from payplane.adapters.db.ledger_check import check_ledger as run_check
    from payplane.adapters.db.ledger_check import ledger_size

    with psycopg.connect(_database_url()) as conn:
        # One read-only snapshot for the check and the counts, so they describe the same ledger.
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        violations = run_check(conn)
        journals, payments_checked = ledger_size(conn)
    if not violations:
        console.print(
            f"[green]ledger consistent: {journals} journals, {payments_checked} payments "
            "checked[/green]"
        )
        return
    table = Table(title=f"{len(violations)} ledger violations")
    for column in ("kind", "subject", "detail"):
        table.add_column(column)
    for v in violations:
        table.add_row(escape(v.kind), escape(v.subject), escape(v.detail))  # data, not markup
    Console().print(table)
    raise typer.Exit(1)
