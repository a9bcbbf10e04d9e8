"""`payplane operators ...` and `payplane keys ...`: credentials made from the command line.

They run the same use cases as /v1/operators and /v1/restricted_keys, audited with the actor
"cli"; this is how a merchant's first admin operator comes to be.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from payplane.config import get_settings

T = TypeVar("T")

operators = typer.Typer(help="A merchant's staff and their roles.", no_args_is_help=True)
keys = typer.Typer(help="Restricted API keys.", no_args_is_help=True)
console = Console(stderr=True)
Merchant = Annotated[str, typer.Option("--merchant", help="the merchant's id (acct_...)")]


def _as_cli(merchant: str, work: Callable[[Any, Any], Awaitable[T]]) -> T:
    """Run `work(container, ctx)` for `merchant`; Payplane's errors become a message and exit 1."""
    from payplane.domain.errors import PayplaneError
    from payplane.domain.ids import new_id
    from payplane.services.ports import RequestContext
    from payplane.wiring import build, database_url

    settings = get_settings().model_copy(update={"db_pool_size": 2})
    try:
        database_url(settings)
    except RuntimeError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from None

    async def run() -> T:
        container = await build(settings)
        try:
            return await work(container, RequestContext(merchant, "cli", new_id("req")))
        finally:
            await container.aclose()

    try:
        return asyncio.run(run())
    except PayplaneError as exc:
        console.print(f"[red]{escape(exc.message)}[/red]")
        raise typer.Exit(1) from None


def _shape(path: str) -> Any:
    from payplane.services.idempotency import RequestShape

    # Without an idempotency key the shape is never stored or compared.
    return RequestShape("POST", path, "")


@operators.command("create")
def create_operator(
    merchant: Merchant,
    email: Annotated[str, typer.Option("--email")],
    role: Annotated[
        list[str],
        typer.Option("--role", help="support, finance, operations or admin; repeat for several"),
    ],
) -> None:
    """Create an operator; prints JSON with its bearer token (op_..., shown only this once)."""
    response = _as_cli(
        merchant,
        lambda c, ctx: c.credentials.create_operator(
            ctx, _shape("/v1/operators"), email, list(role)
        ),
    )
    typer.echo(json.dumps(response.body, indent=2))


@operators.command("list")
def list_operators(
    merchant: Merchant,
) -> None:
    """The merchant's active operators and their roles."""
    from payplane.services.ports import ListQuery

    async def every(container: Any, ctx: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        after = None
        while True:
            page = await container.credentials.list_operators(
                ctx, ListQuery(limit=100, starting_after=after)
            )
            found += page.data
            if not page.has_more:
                return found
            after = page.data[-1]["id"]

    table = Table(title=f"operators of {escape(merchant)}")
    for column in ("id", "email", "roles", "created by"):
        table.add_column(column)
    for operator in _as_cli(merchant, every):
        table.add_row(
            operator["id"],
            escape(operator["email"]),
            ", ".join(operator["roles"]),
            escape(operator["created_by"]),
        )
    Console().print(table)


@keys.command("create-restricted")
def create_restricted_key(
    merchant: Merchant,
    name: Annotated[str, typer.Option("--name", help="what the key is for")],
    permission: Annotated[
        list[str],
        typer.Option("--permission", help="RESOURCE=LEVEL, e.g. refunds=write; repeat for several"),
    ],
) -> None:
    """Create a restricted key; prints JSON with its secret (rk_test_..., shown only this once)."""
    permissions: dict[str, str] = {}
    for item in permission:
        resource, sep, level = item.partition("=")
        if not sep:
            console.print(f"[red]--permission {escape(item)}: expected RESOURCE=LEVEL[/red]")
            raise typer.Exit(2)
        permissions[resource.strip()] = level.strip()
    response = _as_cli(
        merchant,
        lambda c, ctx: c.credentials.create_restricted_key(
            ctx, _shape("/v1/restricted_keys"), name, permissions
        ),
    )
    typer.echo(json.dumps(response.body, indent=2))
