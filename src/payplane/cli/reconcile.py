"""`payplane reconcile` and `payplane remediation ...`: reconciliation runs and the remediation
queue from the command line, through the same use cases as the API, audited as `cli:<user>`."""

from __future__ import annotations

import asyncio
import csv
import getpass
import json
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from payplane.config import get_settings

T = TypeVar("T")

remediation = typer.Typer(help="The remediation queue of reconciliation breaks.")
console = Console()
errors = Console(stderr=True)
ItemId = Annotated[str, typer.Argument(help="the item's id (rmi_...)")]
Reason = Annotated[str, typer.Option("--reason", help="why: kept in the audit trail")]

_BREAK_COLUMNS = (
    "id", "type", "status", "merchant", "payment_intent", "line", "line_type", "batch_number",
    "psp_reference", "merchant_reference", "modification_reference", "amount", "currency",
    "expected_amount", "expected_currency", "suspense", "proposal", "explanation",
)  # fmt: skip


def _as_operator(work: Callable[[Any, Any], Awaitable[T]]) -> T:
    """Run `work(container, ctx)`; Payplane's errors become a message and exit code 1."""
    from payplane.domain.errors import PayplaneError
    from payplane.domain.ids import new_id
    from payplane.services.ports import RequestContext
    from payplane.services.remediation import OPERATOR_SCOPE
    from payplane.wiring import build, database_url

    settings = get_settings().model_copy(update={"db_pool_size": 2})
    try:
        database_url(settings)
    except RuntimeError as exc:
        errors.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from None
    ctx = RequestContext(OPERATOR_SCOPE, f"cli:{getpass.getuser()}", new_id("req"))

    async def run() -> T:
        container = await build(settings)
        try:
            return await work(container, ctx)
        finally:
            await container.aclose()

    try:
        return asyncio.run(run())
    except PayplaneError as exc:
        errors.print(f"[red]{escape(exc.message)}[/red]")
        raise typer.Exit(1) from None


def reconcile(
    day: Annotated[str, typer.Option("--date", help="the report's date, YYYY-MM-DD")],
    connector: Annotated[
        str | None, typer.Option("--connector", help="only the report covering this connector")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="compute and show, store and post nothing")
    ] = False,
    supersede: Annotated[
        bool,
        typer.Option(
            "--supersede",
            help="the PSP corrected a report already reconciled: reverse that run's postings "
            "and reconcile the new report",
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="where to write run.json and breaks.csv "
            "(default $PAYPLANE_HOME/reconciliation/<source>/<date>)",
        ),
    ] = None,
) -> None:
    """Reconcile the PSPs' settlement reports of a date against the ledger."""
    try:
        report_date = date.fromisoformat(day)
    except ValueError:
        errors.print(f"[red]--date {escape(day)} is not a date (YYYY-MM-DD)[/red]")
        raise typer.Exit(2) from None

    async def work(container: Any, ctx: Any) -> list[Any]:
        service = container.reconciliation
        return [
            await service.reconcile(source, report_date, ctx, dry_run=dry_run, supersede=supersede)
            for source in service.sources_for(connector, param="--connector")
        ]

    home = get_settings().home
    for outcome in _as_operator(work):
        _print_run(outcome)
        target = out or home / "reconciliation" / outcome.run["source"] / day
        written = _write_outputs(outcome, target)
        console.print(f"wrote {', '.join(str(path) for path in written)}")


def _money(amount: int | None, currency: str | None) -> str:
    from payplane.domain.money import Money

    if amount is None or currency is None:
        return ""
    return str(Money(amount, currency))


def _amounts(amounts: dict[str, int]) -> str:
    return ", ".join(_money(amount, currency) for currency, amount in sorted(amounts.items()))


def _print_run(outcome: Any) -> None:
    run, summary = outcome.run, outcome.run["summary"]
    state = "dry run, nothing stored" if outcome.dry_run else run["id"]
    if outcome.replayed:
        state += ", reconciled before with this very report: nothing posted again"
    table = Table(title=f"{run['source']} {run['date']} ({state})")
    for column in ("", "count", "amount"):
        table.add_column(column, justify="left" if not column else "right")
    matched = summary["matched"]
    table.add_row("lines", str(summary["lines"]), "")
    table.add_row("matched", str(matched["count"]), escape(_amounts(matched["amounts"])))
    for kind, found in sorted(summary["breaks"].items()):
        table.add_row(f"break: {kind}", str(found["count"]), escape(_amounts(found["amounts"])))
    if summary["timing_resolved"]:
        table.add_row("timing breaks settled", str(summary["timing_resolved"]), "")
    console.print(table)
    batches = Table(title="clearing account per batch")
    for column in ("batch", "currency", "lines", "lines net", "payout", "clearing", "journal"):
        batches.add_column(column, justify="right" if column != "journal" else "left")
    for b in summary["batches"]:
        cur = b["currency"]
        batches.add_row(
            str(b["batch_number"]), cur.upper(), str(b["lines"]), _money(b["net"], cur),
            _money(b["payout"], cur), _money(b["clearing"], cur), b["journal"] or "",
        )  # fmt: skip
    console.print(batches)
    took = ", ".join(f"{phase} {seconds:.2f} s" for phase, seconds in outcome.seconds.items())
    console.print(f"took: {took}", highlight=False)


def _write_outputs(outcome: Any, target: Path) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    prefix = "dry-run-" if outcome.dry_run else ""
    run_path, breaks_path = target / f"{prefix}run.json", target / f"{prefix}breaks.csv"
    run_path.write_text(json.dumps(outcome.as_object(), indent=2) + "\n")
    with breaks_path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(_BREAK_COLUMNS)
        for item in outcome.breaks:
            writer.writerow(_break_row(item))
    return [run_path, breaks_path]


def _break_row(item: dict[str, Any]) -> list[Any]:
    line = item["line"] or {}
    flat = {
        **item,
        "line": line.get("number"),
        "line_type": line.get("type"),
        "batch_number": line.get("batch_number"),
        "psp_reference": line.get("psp_reference"),
        "merchant_reference": line.get("merchant_reference"),
        "modification_reference": line.get("modification_reference"),
        "suspense": "; ".join(f"{leg['account']}={leg['net']}" for leg in item["suspense"]),
        "proposal": json.dumps(item["proposal"]) if item["proposal"] else "",
    }
    return ["" if flat[column] is None else flat[column] for column in _BREAK_COLUMNS]


@remediation.command("list")
def list_items(
    status: Annotated[str | None, typer.Option(help="open, in_review, resolved, ...")] = None,
    kind: Annotated[str | None, typer.Option("--type", help="a break type")] = None,
    run: Annotated[str | None, typer.Option(help="a run's id (rcr_...)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
) -> None:
    """The newest items, as a table."""
    from payplane.services.ports import ListQuery

    filters = {k: v for k, v in (("status", status), ("type", kind), ("run_id", run)) if v}

    async def work(container: Any, _ctx: Any) -> Any:
        return await container.remediation.list(ListQuery(limit=limit, filters=filters))

    page = _as_operator(work)
    table = Table(title=f"remediation items{' (more exist)' if page.has_more else ''}")
    for column in ("id", "type", "status", "payment", "amount", "suspense", "assignee"):
        table.add_column(column)
    for item in page.data:
        suspense = ", ".join(_money(leg["net"], leg["currency"]) for leg in item["suspense"])
        table.add_row(
            item["id"], item["type"], item["status"], item["payment_intent"] or "",
            escape(_money(item["amount"], item["currency"])), escape(suspense),
            escape(item["assignee"] or ""),
        )  # fmt: skip
    console.print(table)


@remediation.command("show")
def show(item_id: ItemId) -> None:
    """One item as JSON: its break, suspense, notes and journals."""

    async def work(container: Any, _ctx: Any) -> Any:
        return await container.remediation.retrieve(item_id)

    typer.echo(json.dumps(_as_operator(work), indent=2))


def _act(item_id: str, action: str, **params: Any) -> None:
    from payplane.domain.remediation import Action
    from payplane.services.idempotency import RequestShape
    from payplane.services.remediation import ActionParams

    async def work(container: Any, ctx: Any) -> Any:
        # Without an idempotency key the shape is never stored or compared.
        shape = RequestShape("CLI", f"remediation {action}", "")
        return await container.remediation.act(
            ctx, shape, item_id, Action(action), ActionParams(**params)
        )

    typer.echo(json.dumps(_as_operator(work).body, indent=2))


@remediation.command("assign")
def assign(
    item_id: ItemId,
    to: Annotated[str, typer.Option("--to", help="who takes it")],
    reason: Annotated[str | None, typer.Option("--reason")] = None,
) -> None:
    """Assign an open item."""
    _act(item_id, "assign", assignee=to, reason=reason)


@remediation.command("note")
def note(item_id: ItemId, text: Annotated[str, typer.Argument(help="the note")]) -> None:
    """Add a note."""
    _act(item_id, "note", text=text)


@remediation.command("review")
def review(item_id: ItemId, reason: Annotated[str | None, typer.Option("--reason")] = None) -> None:
    """Start reviewing an open item."""
    _act(item_id, "review", reason=reason)


@remediation.command("resolve")
def resolve(
    item_id: ItemId,
    reason: Reason,
    account: Annotated[
        str | None,
        typer.Option(
            "--account",
            help="owner:name:purpose (owner psp, platform or suspense) to move the item's "
            "suspense amount to, in each of its currencies",
        ),
    ] = None,
) -> None:
    """Resolve an item, moving what it holds in suspense to --account by a new journal."""
    _act(item_id, "resolve", reason=reason, account=account)


@remediation.command("write-off")
def write_off(item_id: ItemId, reason: Reason) -> None:
    """Write an item off: its suspense amount goes to the write-off expense account."""
    _act(item_id, "write_off", reason=reason)
