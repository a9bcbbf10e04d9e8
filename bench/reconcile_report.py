"""The reconciliation benchmark's figures: a terminal summary and its docs/benchmarks.md
section (between the reconcile markers)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from bench.report import DOCS, Machine, markdown_table, write_section

if TYPE_CHECKING:
    from bench.reconcile import Books, Outcome

START, END = "<!-- reconcile:start -->", "<!-- reconcile:end -->"
TARGET_LINES_PER_SECOND = 50_000
PHASES = (
    (
        "parse_load",
        "parse + load: raw report stored; CSV -> typed lines (Python) streamed by COPY",
    ),
    ("match", "match: set-based SQL against ledger, payments, refunds, disputes"),
    ("post", "post: journals per batch, items, matches, commit"),
)


@dataclass(frozen=True)
class ReconcileRun:
    command: str
    date: datetime
    machine: Machine
    code: str
    books: Books
    outcome: Outcome

    @property
    def total_seconds(self) -> float:
        return sum(self.outcome.seconds[name] for name, _ in PHASES)

    @property
    def lines_per_second(self) -> float:
        return self.books.lines / self.total_seconds


def phase_rows(run: ReconcileRun) -> list[list[str]]:
    rows = [
        [
            label,
            f"{run.outcome.seconds[name]:.2f}",
            f"{run.books.lines / run.outcome.seconds[name]:,.0f}",
        ]
        for name, label in PHASES
    ]
    rows.append(["**total**", f"**{run.total_seconds:.2f}**", f"**{run.lines_per_second:,.0f}**"])
    return rows


def interpretation(run: ReconcileRun) -> list[str]:
    notes = []
    verdict = "meets" if run.lines_per_second >= TARGET_LINES_PER_SECOND else "misses"
    notes.append(
        f"{run.lines_per_second:,.0f} lines/s end to end {verdict} the target of "
        f"{TARGET_LINES_PER_SECOND:,} lines/s."
    )
    slowest = max(PHASES, key=lambda phase: run.outcome.seconds[phase[0]])
    share = run.outcome.seconds[slowest[0]] / run.total_seconds
    notes.append(f"The slowest phase is {slowest[0]} ({share:.0%} of the run).")
    expected = run.books.breaks
    found = run.outcome.breaks
    wanted = {"amount_mismatch": expected, "missing_internally": expected,
              "missing_in_report": expected}  # fmt: skip
    if found == wanted:
        notes.append(
            f"Every injected break was found and classified ({expected} of each kind), and "
            "nothing else."
        )
    else:
        notes.append(f"Breaks found {found}, injected {wanted}: check the run.")
    replay = "posted nothing" if run.outcome.rerun_replayed else "DID NOT replay"
    notes.append(
        f"Running the same report again took {run.outcome.rerun_seconds:.2f} s and {replay}: "
        "its checksum finds the stored run, which is returned."
    )
    return notes


def print_reconcile_summary(console: Console, run: ReconcileRun) -> None:
    console.print()
    console.print(
        f"[bold]Reconciliation[/]: {run.books.lines:,} lines in {run.total_seconds:.2f} s = "
        f"[bold green]{run.lines_per_second:,.0f} lines/s[/]"
    )
    table = Table("phase", "seconds", "lines/s")
    for row in phase_rows(run):
        table.add_row(*(cell.replace("**", "") for cell in row))
    console.print(table)
    for note in interpretation(run):
        console.print(f"- {note}", highlight=False)


def markdown(run: ReconcileRun) -> str:
    m, books, outcome = run.machine, run.books, run.outcome
    lines = [
        START,
        "## Reconciliation",
        "",
        "One reconciliation run of a settlement report with a line per captured payment, "
        "through the real ReconciliationService as the app role in one transaction, as "
        "`payplane reconcile` runs it, on a private embedded PostgreSQL (same settings as "
        "`payplane up`); the report is handed over from memory in the simulator's CSV format. "
        "Written by `python -m bench reconcile` (bench/reconcile.py); rerun it to refresh "
        "this section.",
        "",
        f"- **Command:** `{run.command}`",
        f"- **Date:** {run.date:%Y-%m-%d %H:%M} UTC",
        f"- **Code under test:** {run.code}",
        f"- **Machine:** {m.cpus} CPUs ({m.cpu_model}), {m.ram_gib:.1f} GiB RAM, {m.kernel}; "
        f"Python {m.python}; PostgreSQL {outcome.postgres_version}",
        f"- **Books (not in the figures):** {books.payments:,} captured payments generated "
        "inside the database set-based (INSERT ... SELECT over generate_series into "
        "payment_intents, payment_attempts, ledger_journals and ledger_entries, as the owner "
        "with triggers and foreign keys off, consistent by construction; balances summed in "
        f"one statement; then VACUUM ANALYZE and a CHECKPOINT) in {books.seconds:.1f} s",
        f"- **Report (not in the figures):** {books.lines:,} lines "
        f"({len(books.report) / 2**20:.0f} MiB) built in {books.report_seconds:.1f} s: every "
        f"payment settled but {books.breaks} left out, {books.breaks} off by 3 minor units and "
        f"{books.breaks} captures nobody knows, plus the payout line",
        "",
        "### Result",
        "",
        *markdown_table(["phase", "seconds", "lines/s"], phase_rows(run)),
        "",
        f"{outcome.extra['matched']:,} lines matched; breaks: "
        + ", ".join(f"{kind} {n}" for kind, n in sorted(outcome.breaks.items()))
        + f"; {outcome.journals} journal(s) posted.",
        "",
        "### Interpretation (generated from the figures above)",
        "",
        *(f"- {note}" for note in interpretation(run)),
        END,
    ]
    return "\n".join(lines) + "\n"


def write_reconcile_docs(run: ReconcileRun) -> None:
    write_section(markdown(run), START, END, DOCS)
