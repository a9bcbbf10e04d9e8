"""The run's figures: machine facts, a terminal summary, the docs/benchmarks.md section."""

from __future__ import annotations

import math
import os
import platform as py_platform
import re
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psutil
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.cpu import GENERATOR, CpuUsage
from bench.load import CALLS, CHECKOUT, LoadResult, percentile
from bench.pgbench import PgbenchResult

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
START, END = "<!-- checkout:start -->", "<!-- checkout:end -->"
RATE_START, RATE_END = "<!-- checkout-rate:start -->", "<!-- checkout-rate:end -->"
TARGET_CHECKOUTS_PER_SECOND = 300
TARGET_P95_MS = 100
# DESIGN.md section 1: the sync checkout plane answers with p95 < 300 ms end to end.
DESIGN_P95_MS = 300
# More than this share of one core spent in the generator is worth a warning in the report.
GENERATOR_WARN_SHARE = 0.25
_PROCESS_ORDER = ("api", "worker", "psp-simulator", "postgres", GENERATOR)
_DOCS_HEADER = """# Benchmarks

Performance figures for Payplane, produced by the benchmarks under `bench/` and written here by
them. Each section names its command and machine, and is rewritten by that command only: the
sections are delimited by HTML comments (`<!-- name:start -->` ... `<!-- name:end -->`), so
benchmarks never clobber each other's sections or the notes around them.
"""


@dataclass(frozen=True)
class Machine:
    cpus: int
    cpu_model: str
    ram_gib: float
    python: str
    kernel: str
    loadavg: tuple[float, float, float]

    @classmethod
    def current(cls) -> Machine:
        model = "unknown CPU"
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        return cls(
            cpus=os.cpu_count() or 1,
            cpu_model=model,
            ram_gib=psutil.virtual_memory().total / 2**30,
            python=py_platform.python_version(),
            kernel=f"{py_platform.system()} {py_platform.release()}",
            loadavg=os.getloadavg(),
        )


@dataclass(frozen=True)
class Run:
    command: str
    date: datetime
    machine: Machine
    code: str
    postgres_version: str
    api_workers: int
    client: str
    db_pool_size: int
    load: LoadResult
    pgbench: PgbenchResult | None


def code_under_test() -> str:
    """Which payplane the platform ran: its directory and git revision, dirty or not."""
    import payplane

    root = Path(payplane.__file__).resolve().parents[2]
    git = ["git", "-C", str(root)]
    try:
        revision = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changes = subprocess.run(
            [*git, "status", "--porcelain", "--", "src", "migrations"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        # An exported tree (git archive) may say where it came from in a REVISION file.
        stamp = root / "REVISION"
        origin = f", {stamp.read_text().strip()}" if stamp.is_file() else ""
        return f"{root} (not a git checkout{origin})"
    dirty = ", with uncommitted changes in src/ or migrations/" if changes else ""
    return f"git {revision}{dirty} ({root})"


# -- figures ---------------------------------------------------------------------------------


def load_shape(load: LoadResult) -> str:
    if load.rate:
        return (
            f"open loop, Poisson arrivals at {load.rate:g} checkouts/s (at most {load.users} in "
            "flight)"
        )
    return f"{load.users} virtual users in a closed loop"


def _ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def latency_rows(load: LoadResult) -> list[list[str]]:
    rows = []
    for name in (*CALLS, CHECKOUT):
        values = load.latencies[name]
        mean = sum(values) / len(values) if values else math.nan
        rows.append(
            [
                name if name != CHECKOUT else "whole checkout",
                str(len(values)),
                _ms(percentile(values, 50)),
                _ms(percentile(values, 95)),
                _ms(percentile(values, 99)),
                _ms(values[-1] if values else math.nan),
                _ms(mean),
            ]
        )
    return rows


def _process_label(name: str, usage: CpuUsage) -> str:
    pids = {pid: s for pid, s in usage.per_pid.get(name, {}).items() if s > 0.05 * usage.wall}
    if name == "api" and len(pids) > 1:
        shares = ", ".join(f"{s / usage.wall:.2f}" for s in sorted(pids.values(), reverse=True))
        return f"api ({len(pids)} busy processes: {shares} cores)"
    if name == "postgres":
        return "postgres (all backends and helpers)"
    return name


def cpu_rows(usage: CpuUsage, checkouts: int) -> list[list[str]]:
    wall, cores = usage.wall, usage.cores
    per_checkout = 1000 / checkouts if checkouts else math.nan

    def row(label: str, seconds: float) -> list[str]:
        return [
            label,
            f"{seconds:.1f}",
            f"{seconds / wall:.2f}",
            f"{100 * seconds / (wall * cores):.0f} %",
            f"{seconds * per_checkout:.2f}",
        ]

    names = [n for n in _PROCESS_ORDER if n in usage.groups]
    names += [n for n in usage.groups if n not in names]
    rows = [row(_process_label(name, usage), usage.groups[name]) for name in names]
    rows.append(row("**all of the above**", usage.ours))
    rows.append(row("other processes on the machine", usage.others))
    idle = max(0.0, wall * cores - usage.machine_busy - usage.machine_iowait - usage.machine_steal)
    rows.append([*row("idle", idle)[:4], ""])
    if usage.machine_iowait > 0.05 * wall:
        rows.append([*row("iowait", usage.machine_iowait)[:4], ""])
    if usage.machine_steal > 0.05 * wall:
        rows.append([*row("steal (hypervisor)", usage.machine_steal)[:4], ""])
    return rows


def database_rows(load: LoadResult) -> list[list[str]]:
    stats, n, wall = load.postgres_stats, load.checkouts, load.wall
    if not stats or not n:
        return []
    rows: list[tuple[str, str, float]] = [
        ("transactions committed", "xact_commit", stats.get("xact_commit", 0.0)),
        ("transactions rolled back", "xact_rollback", stats.get("xact_rollback", 0.0)),
        ("rows inserted", "tup_inserted", stats.get("tup_inserted", 0.0)),
        ("rows updated", "tup_updated", stats.get("tup_updated", 0.0)),
        ("WAL bytes", "pg_current_wal_lsn()", stats.get("wal_bytes", 0.0)),
        ("WAL writes", "pg_stat_io (wal)", stats.get("wal_writes", 0.0)),
        ("WAL fsyncs", "pg_stat_io (wal)", stats.get("wal_fsyncs", 0.0)),
    ]
    return [
        [label, source, f"{value / wall:,.0f}", f"{value / n:,.2f}"]
        for label, source, value in rows
    ]


def wait_rows(load: LoadResult, limit: int = 8) -> list[list[str]]:
    return [[what, f"{average:.2f}"] for what, average in load.postgres_waits[:limit]]


def interpretation(run: Run) -> list[str]:
    load, usage = run.load, run.load.cpu
    n, rate, wall, cores = load.checkouts, load.checkouts_per_second, usage.wall, usage.cores
    notes: list[str] = []
    p95s = {name: percentile(load.latencies[name], 95) * 1000 for name in CALLS}
    worst_call = max(p95s, key=lambda name: p95s[name])
    if load.rate:
        met = p95s[worst_call] < DESIGN_P95_MS
        notes.append(
            f"Design target (every checkout call's p95 < {DESIGN_P95_MS} ms): "
            f"{'met' if met else 'not met'} at {load.rate:g} checkouts/s offered "
            f"({rate:.1f} completed per second): worst per-call p95 {p95s[worst_call]:.0f} ms "
            f"({worst_call}), whole checkout p95 "
            f"{percentile(load.latencies[CHECKOUT], 95) * 1000:.0f} ms counted from each "
            "checkout's scheduled arrival."
        )
    else:
        met = rate >= TARGET_CHECKOUTS_PER_SECOND and p95s[worst_call] < TARGET_P95_MS
        notes.append(
            f"Target (>= {TARGET_CHECKOUTS_PER_SECOND} checkouts/s with every call's p95 < "
            f"{TARGET_P95_MS} ms): {'met' if met else 'not met'}: {rate:.0f} checkouts/s, "
            f"worst per-call p95 {p95s[worst_call]:.0f} ms ({worst_call})."
        )
    if not n:
        return notes
    busy = usage.machine_busy / (wall * cores)
    ours_ms = 1000 * usage.ours / n
    platform_ms = 1000 * (usage.ours - usage.groups.get(GENERATOR, 0.0)) / n
    biggest = max(
        (name for name in usage.groups if name != GENERATOR), key=lambda k: usage.groups[k]
    )
    notes.append(
        f"CPU: the machine's {cores} cores were {100 * busy:.0f} % busy; the platform "
        f"(api, worker, simulator, PostgreSQL) spent {platform_ms:.1f} ms of CPU per checkout, "
        f"the largest part in {biggest} ({1000 * usage.groups[biggest] / n:.1f} ms). At that "
        f"cost {cores} fully used cores cap this configuration near "
        f"{1000 * cores / platform_ms:.0f} checkouts/s even with a free load generator"
        + (
            f" ({1000 * cores / ours_ms:.0f} with this generator's own cost)."
            if usage.groups.get(GENERATOR)
            else "."
        )
        + (" Throughput is CPU-bound." if busy > 0.9 else "")
    )
    generator_share = usage.groups.get(GENERATOR, 0.0) / wall
    notes.append(
        f"Load generator: {100 * generator_share:.0f} % of one core, "
        f"{1000 * usage.groups.get(GENERATOR, 0.0) / n:.2f} ms CPU per checkout ({run.client} "
        "client) - "
        + (
            "more than a quarter core: part of the 2 cores it measures went to the generator."
            if generator_share > GENERATOR_WARN_SHARE
            else "small next to the platform, so it is not what limits the figure above."
        )
    )
    api_cores = usage.groups.get("api", 0.0) / wall
    if run.api_workers == 1 and api_cores > 0.85:
        notes.append(
            f"The single api process ran at {api_cores:.2f} of one core: it is the bottleneck of "
            "this configuration (Python runs one request at a time per process), while the "
            f"machine still had {100 * (1 - busy):.0f} % idle; more api workers use that CPU."
        )
    commits = load.postgres_stats.get("xact_commit")
    if commits:
        db_note = (
            f"Database: {commits / wall:,.0f} commits/s ({commits / n:.1f} per checkout) with "
            f"PostgreSQL at {usage.groups.get('postgres', 0.0) / wall:.2f} cores."
        )
        if run.pgbench is not None:
            pg_cores = run.pgbench.cpu.groups.get("postgres", 0.0) / run.pgbench.cpu.wall
            db_note += (
                f" pgbench tpcb-like drove {run.pgbench.tps:,.0f} synchronous commits/s "
                f"(5 statements each) through the same server at {pg_cores:.2f} cores, so "
                "commit and fsync throughput is far from the limit; a checkout's transactions "
                "are heavier (more statements, foreign-key checks, JSON), and PostgreSQL's "
                "share of the CPU is what the checkout load can spare it."
            )
        notes.append(db_note)
    idle_in_tx = sum(n for what, n in load.postgres_waits if what.startswith("idle in transaction"))
    lock_waits = [(what, n) for what, n in load.postgres_waits if ", Lock: " in what]
    if idle_in_tx or lock_waits:
        note = (
            f"Open transactions: on average {idle_in_tx:.1f} backends sat idle in a transaction, "
            "waiting for the api to send the next statement"
        )
        if lock_waits:
            what, _ = max(lock_waits, key=lambda item: item[1])
            note += (
                f", and {sum(n for _, n in lock_waits):.1f} waited for a lock held by such a "
                f"transaction (mostly {what.split(', ', 1)[1]})"
            )
        notes.append(
            note + ": rows locked early in a transaction stay locked for as long as the api takes "
            "to finish it."
        )
    if load.rate:
        notes.append(
            f"Latency: checkouts arrived at random at {load.rate:g}/s on average whatever the "
            f"platform did, at most {load.users} were in flight at once; the CPU figures above "
            "are the cost of that load, not the platform's capacity (the closed-loop section "
            "measures that)."
        )
    else:
        concurrency_ms = 1000 * load.users / rate if rate else math.nan
        notes.append(
            f"Latency: with {load.users} users in a closed loop a checkout takes "
            f"~{concurrency_ms:.0f} ms by Little's law (users / throughput); per-call latency "
            "above the single-request service time is queueing for the same CPU, so fewer "
            "users lower latency without raising throughput once the cores are saturated."
        )
    if usage.others > 0.1 * wall:
        notes.append(
            f"Noise: processes outside the benchmark used {usage.others / wall:.2f} cores during "
            "the window (other work on the shared machine); figures are lower than on an idle "
            "machine."
        )
    if load.error_count:
        notes.append(f"Errors: {load.error_count} failed calls in the window - see the list above.")
    return notes


# -- terminal ----------------------------------------------------------------------------------


def print_summary(console: Console, run: Run) -> None:
    load = run.load
    console.print()
    console.print(
        f"[bold]Checkout benchmark[/]: {load.checkouts} checkouts in {load.wall:.1f} s = "
        f"[bold green]{load.checkouts_per_second:.1f} checkouts/s[/], "
        f"{load.error_count} errors (warm-up: {sum(load.warmup_errors.values())}); "
        f"{run.api_workers} api worker(s), {load_shape(load)}, {run.client} client"
    )
    table = Table("call", "count", "p50 ms", "p95 ms", "p99 ms", "max ms", "mean ms")
    for row in latency_rows(load):
        table.add_row(*row)
    console.print(table)
    table = Table("process", "CPU s", "cores", "of machine", "ms/checkout")
    for row in cpu_rows(load.cpu, load.checkouts):
        table.add_row(*(cell.replace("**", "") for cell in row))
    console.print(table)
    db = database_rows(load)
    if db:
        table = Table("PostgreSQL (approx.)", "source", "per second", "per checkout")
        for row in db:
            table.add_row(*row)
        console.print(table)
    if load.postgres_waits:
        table = Table("PostgreSQL backends (pg_stat_activity)", "average number")
        for row in wait_rows(load):
            table.add_row(*row)
        console.print(table)
    if load.errors:
        for key, count in load.errors.most_common():
            console.print(f"  [red]{count}[/] x {escape(key)}")
    for example in load.error_examples:
        console.print(f"  [dim]{escape(example)}[/]", highlight=False)
    if run.pgbench is not None:
        pg = run.pgbench
        console.print(
            f"[bold]pgbench[/] tpcb-like: [bold green]{pg.tps:,.0f} tps[/] (without connection "
            f"time), latency avg {pg.latency_avg_ms:.2f} ms, {pg.clients} clients, "
            f"{pg.threads} threads, {pg.duration} s, scale {pg.scale}; server "
            f"{pg.cpu.groups.get('postgres', 0.0) / pg.cpu.wall:.2f} cores, client "
            f"{pg.cpu.groups.get('pgbench (client)', 0.0) / pg.cpu.wall:.2f} cores"
        )
    console.print()
    for note in interpretation(run):
        console.print(f"- {note}", highlight=False)


# -- docs ------------------------------------------------------------------------------------


def markdown_table(header: list[str], rows: list[list[str]], right_from: int = 1) -> list[str]:
    align = ["---" if i < right_from else "---:" for i in range(len(header))]
    return [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(align) + " |",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def markdown(run: Run) -> str:
    load, m = run.load, run.machine
    start, end = (RATE_START, RATE_END) if load.rate else (START, END)
    lines = [
        start,
        "## Checkout latency at a fixed arrival rate" if load.rate else "## Checkout",
        "",
        "create + confirm + capture (`capture_method=manual`, `pm_card_visa`) through the PSP "
        "simulator at zero latency, form-encoded with a Bearer secret key and an "
        "Idempotency-Key on every POST. Written by `python -m bench` (bench/); rerun it to "
        "refresh this section.",
        "",
        f"- **Command:** `{run.command}` (`make bench` runs it"
        + (f" with `--rate {load.rate:g}`)" if load.rate else " with the defaults)"),
        f"- **Date:** {run.date:%Y-%m-%d %H:%M} UTC",
        f"- **Code under test:** {run.code}",
        f"- **Machine:** {m.cpus} CPUs ({m.cpu_model}), {m.ram_gib:.1f} GiB RAM, {m.kernel}; "
        f"Python {m.python}; PostgreSQL {run.postgres_version} (embedded, same settings as "
        "`payplane up`: fsync and synchronous_commit on); load average at start "
        f"{m.loadavg[0]:.2f}",
        f"- **Settings:** {run.api_workers} api worker process(es), {load_shape(load)}, "
        f"{load.warmup:g} s warm-up, {load.wall:.1f} s measured, {run.client} HTTP/1.1 client "
        "with keep-alive connections (one per user, or per checkout in flight), DB pool "
        f"{run.db_pool_size} per process, simulator latency 0",
        "",
        "### Result",
        "",
        *markdown_table(
            ["figure", "value"],
            [
                *([["checkouts/s offered", f"{load.rate:g}"]] if load.rate else []),
                ["checkouts/s", f"**{load.checkouts_per_second:.1f}**"],
                ["checkouts measured", str(load.checkouts)],
                [
                    "errors (non-200 or wrong state)",
                    f"{load.error_count} (warm-up: {sum(load.warmup_errors.values())})",
                ],
                *(
                    [["pgbench tpcb-like, same server", f"**{run.pgbench.tps:,.0f} tps**"]]
                    if run.pgbench
                    else []
                ),
            ],
        ),
        "",
    ]
    if load.errors:
        lines += [f"- {count} x {key}" for key, count in load.errors.most_common()] + [""]
    lines += [
        "### Latency (ms)",
        "",
        *markdown_table(["call", "count", "p50", "p95", "p99", "max", "mean"], latency_rows(load)),
        "",
        "### CPU during the measured window",
        "",
        "Per process tree (psutil, children included), and machine-wide from /proc/stat.",
        "",
        *markdown_table(
            ["process", "CPU s", "cores", f"of {load.cpu.cores} cores", "ms per checkout"],
            cpu_rows(load.cpu, load.checkouts),
        ),
        "",
    ]
    db = database_rows(load)
    if db:
        lines += [
            "### PostgreSQL during the measured window",
            "",
            "From pg_stat_database / pg_stat_io, which backends flush about once a second: "
            "approximate.",
            "",
            *markdown_table(["figure", "source", "per second", "per checkout"], db, right_from=2),
            "",
        ]
    if load.postgres_waits:
        lines += [
            "Backends of the payplane database that were not idle, sampled from "
            "pg_stat_activity every 0.1 s (average number in each state; 'idle in transaction, "
            "Client: ClientRead' is a transaction waiting for the api to send its next "
            "statement):",
            "",
            *markdown_table(["state, wait event", "average backends"], wait_rows(load)),
            "",
        ]
    if run.pgbench is not None:
        pg = run.pgbench
        lines += [
            "### pgbench (physical reference)",
            "",
            f"Same PostgreSQL, database `bench_pgbench` at scale {pg.scale}, run after the "
            f"checkout load: `{pg.command}`.",
            "",
            *markdown_table(
                ["figure", "value"],
                [
                    ["TPS (without initial connection time)", f"{pg.tps:,.0f}"],
                    ["latency average", f"{pg.latency_avg_ms:.2f} ms"],
                    ["transactions", f"{pg.transactions:,}"],
                    [
                        "PostgreSQL CPU",
                        f"{pg.cpu.groups.get('postgres', 0.0) / pg.cpu.wall:.2f} cores",
                    ],
                    [
                        "pgbench client CPU",
                        f"{pg.cpu.groups.get('pgbench (client)', 0.0) / pg.cpu.wall:.2f} cores",
                    ],
                    [
                        "other processes on the machine",
                        f"{pg.cpu.others / pg.cpu.wall:.2f} cores",
                    ],
                ],
            ),
            "",
        ]
    lines += [
        "### Interpretation (generated from the figures above)",
        "",
        *(f"- {note}" for note in interpretation(run)),
        end,
    ]
    return "\n".join(lines) + "\n"


def write_docs(run: Run, path: Path = DOCS) -> None:
    start, end = (RATE_START, RATE_END) if run.load.rate else (START, END)
    write_section(markdown(run), start, end, path)


def write_section(section: str, start: str, end: str, path: Path = DOCS) -> None:
    """Replace the text between `start` and `end` (markers included) with `section`, or append
    it; the rest of the file, other benchmarks' sections and hand-written notes, stays as is."""
    text = path.read_text() if path.exists() else _DOCS_HEADER
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end) + r"\n?", re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
