"""`payplane audit ...`: check the tamper-evident audit trail."""

from __future__ import annotations

import typer
from rich.console import Console

audit = typer.Typer(help="Check the tamper-evident audit trail.", no_args_is_help=True)


@audit.command("verify")
def verify() -> None:
    """Recompute the audit hash chain; prints each edited, deleted, reordered or inserted row and
    exits 1 if there is any. Rows not sealed yet (the worker seals them within seconds) are
    counted, not checked."""
    import psycopg
    from psycopg import IsolationLevel
    from rich.markup import escape
    from rich.table import Table

    from payplane.adapters.db.audit_chain import verify_chain
    from payplane.cli.main import _database_url

    with psycopg.connect(_database_url()) as conn:
        # One snapshot: seals and rows written while the check runs are not half seen.
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        report = verify_chain(conn)
    console = Console()
    head = report.head_hash.hex() if report.head_hash else "none (nothing sealed yet)"
    summary = f"{report.sealed} rows sealed, {report.unsealed} not sealed yet; chain head {head}"
    if not report.findings:
        console.print(f"[green]audit chain intact:[/green] {summary}")
        return
    table = Table(title=f"{len(report.findings)} audit chain problems")
    for column in ("problem", "seal", "audit row", "detail"):
        table.add_column(column)
    for f in report.findings:
        table.add_row(
            f.problem.value,
            "-" if f.seq is None else str(f.seq),
            "-" if f.audit_id is None else str(f.audit_id),
            escape(f.detail),
        )
    console.print(table)
    console.print(summary)
    raise typer.Exit(1)
