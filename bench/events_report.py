"""The event benchmark's figures: a terminal summary and the docs/benchmarks.md section."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.cpu import CpuUsage
from bench.events import (
    INSERTER,
    RECEIVER,
    BacklogPhase,
    EventsResult,
    RatePhase,
    percentile,
)
from bench.report import DOCS, Machine, markdown_table, write_section

START, END = "<!-- events:start -->", "<!-- events:end -->"
TARGET_RATE = 1000
TARGET_P95_MS = 100
GENERATOR_WARN_SHARE = 0.25
_LABELS = {
    "worker": "worker (relay, fan-out, delivery)",
    "postgres": "postgres (all backends and helpers)",
    "nats": "nats-server (JetStream)",
    INSERTER: f"{INSERTER} (load generator)",
    RECEIVER: f"{RECEIVER} (load generator)",
}
_ORDER = ("api", "worker", "psp-simulator", "postgres", "nats", INSERTER, RECEIVER)


@dataclass(frozen=True)
class EventsRun:
    command: str
    date: datetime
    machine: Machine
    code: str
    postgres_version: str
    api_workers: int
    settings: dict[str, Any]
    overrides: dict[str, Any]
    result: EventsResult


# -- figures ---------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "n/a"
    if math.isinf(seconds):
        return "lost"
    return f"{seconds * 1000:,.1f}"


def _num(value: float, digits: int = 0) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def _stage_row(label: str, values: Sequence[float]) -> list[str]:
    finite = [v for v in values if not math.isinf(v)]
    mean = sum(finite) / len(finite) if finite else math.nan
    return [
        label,
        f"{len(finite):,}",
        *(_ms(percentile(values, p)) for p in (50, 95, 99)),
        _ms(values[-1] if values else math.nan),
        _ms(mean),
    ]


def stage_rows(rate: RatePhase) -> list[list[str]]:
    return [
        _stage_row("marked published by the relay (`published_at`)", rate.relay_lags),
        _stage_row("delivery row written by the fan-out (`created_at`)", rate.fanout_lags),
        _stage_row("**received by the merchant endpoint**", rate.latencies),
    ]


def delivered_rate(rate: RatePhase) -> float:
    """Events delivered per second over the busy window (first insert -> last arrival)."""
    return rate.received / rate.cpu.wall if rate.cpu.wall else math.nan


def _platform_seconds(usage: CpuUsage) -> float:
    return sum(v for k, v in usage.groups.items() if k not in (INSERTER, RECEIVER))


def cpu_rows(rate: RatePhase, backlog_usage: CpuUsage | None, delivered: int) -> list[list[str]]:
    usage = rate.cpu
    wall, cores, n = usage.wall, usage.cores, rate.inserted
    names = [k for k in _ORDER if k in usage.groups]
    names += [k for k in usage.groups if k not in names]

    def row(label: str, seconds: float, backlog_seconds: float | None) -> list[str]:
        cells = [
            label,
            f"{seconds:.1f}",
            f"{seconds / wall:.2f}",
            f"{100 * seconds / (wall * cores):.0f} %",
            f"{1000 * seconds / n:.3f}" if n else "n/a",
        ]
        if backlog_usage is not None:
            b = backlog_seconds or 0.0
            cells += [
                f"{b / backlog_usage.wall:.2f}",
                f"{1000 * b / delivered:.3f}" if delivered else "n/a",
            ]
        return cells

    def backlog(name: str) -> float | None:
        return backlog_usage.groups.get(name) if backlog_usage else None

    rows = [row(_LABELS.get(k, k), usage.groups[k], backlog(k)) for k in names]
    rows.append(
        row(
            "**all of the above**",
            usage.ours,
            backlog_usage.ours if backlog_usage else None,
        )
    )
    rows.append(
        row(
            "other processes on the machine",
            usage.others,
            backlog_usage.others if backlog_usage else None,
        )
    )
    idle = max(0.0, wall * cores - usage.machine_busy - usage.machine_iowait - usage.machine_steal)
    idle_row = row("idle", idle, None)
    idle_row[4] = ""
    if backlog_usage is not None:
        b = backlog_usage
        b_idle = max(0.0, b.wall * cores - b.machine_busy - b.machine_iowait - b.machine_steal)
        idle_row[5:] = [f"{b_idle / b.wall:.2f}", ""]
    rows.append(idle_row)
    return rows


def database_rows(rate: RatePhase) -> list[list[str]]:
    stats, n, wall = rate.postgres_stats, rate.inserted, rate.cpu.wall
    if not stats or not n:
        return []
    rows = [
        ("transactions committed", "xact_commit", stats.get("xact_commit", 0.0)),
        ("rows inserted", "tup_inserted", stats.get("tup_inserted", 0.0)),
        ("rows updated", "tup_updated", stats.get("tup_updated", 0.0)),
        ("WAL bytes", "pg_current_wal_lsn()", stats.get("wal_bytes", 0.0)),
        ("WAL fsyncs", "pg_stat_io (wal)", stats.get("wal_fsyncs", 0.0)),
    ]
    return [
        [label, source, f"{value / wall:,.0f}", f"{value / n:,.2f}"]
        for label, source, value in rows
    ]


def wait_rows(waits: list[tuple[str, float]], limit: int = 8) -> list[list[str]]:
    return [[what.replace("|", "/"), f"{average:.2f}"] for what, average in waits[:limit]]


def _busiest_statement(waits: list[tuple[str, float]]) -> tuple[str, float] | None:
    active = [(w, n) for w, n in waits if w.startswith("active, running (")]
    if not active:
        return None
    what, n = max(active, key=lambda item: item[1])
    return what.split("(", 1)[1].rstrip(")").rstrip(". ").strip(), n


def _backlog_notes(run: EventsRun, backlog: BacklogPhase, pace: float) -> list[str]:
    notes: list[str] = []
    per_endpoint = run.settings.get("webhook_endpoint_concurrency")
    note = (
        f"Throughput on a backlog of {backlog.events:,}: the relay published "
        f"{_num(backlog.relay_rate)} events/s ({backlog.relay_batches} rounds of up to "
        f"{run.settings.get('relay_batch_size')}, all in {backlog.published_in:.2f} s, while "
        f"the same worker fanned out and delivered); the endpoint received "
        f"{_num(backlog.delivery_rate)} deliveries/s ({backlog.received:,} in "
        f"{backlog.received_in:.1f} s)."
    )
    if backlog.delivery_rate < backlog.relay_rate / 3:
        note += " Delivery, not the relay, limits the pipeline."
    notes.append(note)
    if per_endpoint and backlog.delivery_rate > 0:
        cycle = 1000 * per_endpoint / backlog.delivery_rate
        notes.append(
            f"One endpoint gets at most webhook_endpoint_concurrency = {per_endpoint} "
            f"requests in flight per dispatcher: at {_num(backlog.delivery_rate)} "
            f"deliveries/s each of those slots took ~{cycle:.0f} ms per delivery (claim, "
            "send, record), while the receiver answers at once: the time goes to the "
            "dispatcher and the database, not to the endpoint."
        )
    if backlog.delivery_rate < 0.8 * pace:
        notes.append(
            f"Deliveries were slower with {backlog.events:,} pending "
            f"({_num(backlog.delivery_rate)}/s) than over the rate phase "
            f"({_num(pace)}/s, a shorter queue): the cost of a delivery grows with the "
            "queue it is taken from."
        )
    busiest = _busiest_statement(backlog.postgres_waits)
    if busiest:
        pg_cores = backlog.cpu.groups.get("postgres", 0.0) / backlog.cpu.wall
        notes.append(
            f"PostgreSQL during the backlog: {pg_cores:.2f} cores; the busiest statement was "
            f"`{busiest[0]} ...`, running in {busiest[1]:.2f} backends on average (sampled "
            "every 0.1 s)."
        )
    return notes


def interpretation(run: EventsRun) -> list[str]:
    result, rate = run.result, run.result.rate
    backlog = result.backlog
    usage = rate.cpu
    notes: list[str] = []
    p95 = percentile(rate.latencies, 95)
    lost = rate.inserted - (rate.received - rate.received_late)
    met = (
        rate.achieved_rate >= 0.98 * TARGET_RATE
        and not math.isinf(p95)
        and p95 * 1000 < TARGET_P95_MS
        and lost == 0
    )
    notes.append(
        f"Target (p95 < {TARGET_P95_MS} ms from commit to receipt at {TARGET_RATE:,} events/s): "
        f"{'met' if met else 'not met'}: {rate.achieved_rate:,.0f} events/s inserted, p95 "
        f"{_ms(p95)} ms, {rate.received - rate.received_late:,} of {rate.inserted:,} delivered "
        f"within {rate.drain_timeout:g} s of the last commit."
    )
    if rate.fanout_lags and rate.latencies:
        fan95, relay95 = percentile(rate.fanout_lags, 95), percentile(rate.relay_lags, 95)
        note = (
            f"Where the time goes (p95 from commit): published by the relay after "
            f"{_ms(relay95)} ms, delivery row written by the fan-out after {_ms(fan95)} ms, "
            f"received after {_ms(p95)} ms."
        )
        if not math.isinf(p95) and p95 > 3 * fan95:
            note += (
                " Relay, JetStream and fan-out are fast; nearly all of the latency is the "
                "delivery row waiting to be claimed and sent."
            )
        notes.append(note)
    pace = delivered_rate(rate)
    if rate.drained_in > 1.0:
        notes.append(
            f"Deliveries did not keep pace: the last measured event arrived "
            f"{rate.drained_in:.1f} s after the last commit, so over the whole window "
            f"({usage.wall:.1f} s) the endpoint received {pace:,.0f} events/s against "
            f"{rate.achieved_rate:,.0f} inserted. The queue of pending deliveries grew through "
            "the run, and the latency figures grow with --duration: they describe this run's "
            "length, not a steady state."
        )
    else:
        notes.append(
            f"Deliveries kept pace: the last measured event arrived {rate.drained_in * 1000:.0f} "
            "ms after the last commit."
        )
    if backlog is not None:
        notes += _backlog_notes(run, backlog, pace)
    if rate.inserted:
        cores = usage.cores
        busy = usage.machine_busy / (usage.wall * cores)
        platform_ms = 1000 * _platform_seconds(usage) / rate.inserted
        biggest = max(
            (k for k in usage.groups if k not in (INSERTER, RECEIVER)),
            key=lambda k: usage.groups[k],
        )
        notes.append(
            f"CPU: the machine's {cores} cores were {100 * busy:.0f} % busy over the rate "
            f"phase's window; the platform spent {platform_ms:.2f} ms of CPU per event, the "
            f"largest part in {biggest} ({1000 * usage.groups[biggest] / rate.inserted:.2f} ms, "
            f"{usage.groups[biggest] / usage.wall:.2f} cores)."
        )
        generator = usage.groups.get(INSERTER, 0.0) + usage.groups.get(RECEIVER, 0.0)
        share = generator / usage.wall
        notes.append(
            f"Load generator: inserter and receiver together {100 * share:.0f} % of one core, "
            f"{1000 * generator / rate.inserted:.3f} ms CPU per event (inserter "
            f"{usage.groups.get(INSERTER, 0.0) / usage.wall:.2f}, receiver "
            f"{usage.groups.get(RECEIVER, 0.0) / usage.wall:.2f} cores) - "
            + (
                "more than a quarter core: part of the machine went to the generator."
                if share > GENERATOR_WARN_SHARE
                else "small next to the platform, so it is not what limits the figures above."
            )
        )
    if rate.max_lag > 0.05:
        notes.append(
            f"Inserter: a batch started up to {rate.max_lag * 1000:.0f} ms after its due time "
            f"(all {rate.connections} connections busy); latencies are measured from the "
            "actual commit, so such delays are not in them."
        )
    if usage.others > 0.1 * usage.wall:
        notes.append(
            f"Noise: processes outside the benchmark used {usage.others / usage.wall:.2f} cores "
            "during the window (other work on the shared machine)."
        )
    if result.duplicates or result.bad_signatures or result.malformed:
        notes.append(
            f"Receiver: {result.duplicates} duplicate deliveries, {result.bad_signatures} bad "
            f"signatures, {result.malformed} malformed requests."
        )
    return notes


# -- terminal ----------------------------------------------------------------------------------


def print_events_summary(console: Console, run: EventsRun) -> None:
    rate, backlog = run.result.rate, run.result.backlog
    console.print()
    console.print(
        f"[bold]Event pipeline[/]: {rate.inserted:,} events at "
        f"{rate.achieved_rate:,.1f} events/s; {rate.received:,} received; latency p50 / p95 / "
        f"p99 [bold green]{_ms(percentile(rate.latencies, 50))} / "
        f"{_ms(percentile(rate.latencies, 95))} / {_ms(percentile(rate.latencies, 99))} ms[/]"
    )
    table = Table("from commit to", "count", "p50 ms", "p95 ms", "p99 ms", "max ms", "mean ms")
    for row in stage_rows(rate):
        table.add_row(*(cell.replace("**", "").replace("`", "") for cell in row))
    console.print(table)
    if backlog is not None:
        console.print(
            f"backlog of {backlog.events:,}: relay [bold green]{_num(backlog.relay_rate)} "
            f"events/s[/] (all published in {backlog.published_in:.2f} s), delivery [bold green]"
            f"{_num(backlog.delivery_rate)} deliveries/s[/] ({backlog.received:,} in "
            f"{backlog.received_in:.1f} s)"
        )
    header = ["process", "CPU s", "cores", "of machine", "ms/event"]
    if backlog is not None:
        header += ["backlog cores", "ms/delivery"]
    table = Table(*header)
    for row in cpu_rows(rate, backlog.cpu if backlog else None, backlog.received if backlog else 0):
        table.add_row(*(cell.replace("**", "") for cell in row))
    console.print(table)
    for title, waits in (
        ("PostgreSQL backends, rate phase", rate.postgres_waits),
        ("PostgreSQL backends, backlog", backlog.postgres_waits if backlog else []),
    ):
        if waits:
            table = Table(title, "average number")
            for row in wait_rows(waits, limit=6):
                table.add_row(*row)
            console.print(table)
    console.print()
    for note in interpretation(run):
        console.print(f"- {note}", highlight=False)


# -- docs ------------------------------------------------------------------------------------


def _settings_text(run: EventsRun) -> str:
    parts = []
    for name, value in run.settings.items():
        mark = " (set with --set)" if name in run.overrides else ""
        parts.append(f"{name}={value:g}{mark}" if isinstance(value, float) else f"{name}={value}")
    extra = [f"{k}={v}" for k, v in run.overrides.items() if k not in run.settings]
    return ", ".join(parts + [f"{e} (set with --set)" for e in extra])


def markdown(run: EventsRun) -> str:
    result, rate, backlog, m = run.result, run.result.rate, run.result.backlog, run.machine
    interval_ms = 1000 * rate.batch / rate.rate
    p = {q: percentile(rate.latencies, q) for q in (50, 95, 99)}
    lines = [
        START,
        "## Event pipeline",
        "",
        "Latency of an event from the COMMIT of its outbox row to its receipt at a merchant's "
        "webhook endpoint (outbox relay -> NATS JetStream -> fan-out into webhook_deliveries "
        "-> signed HTTP POST), and the throughput of the relay and of the deliveries on a "
        "backlog. Written by `python -m bench events` (bench/events.py); rerun it to refresh "
        "this section.",
        "",
        f"- **Command:** `{run.command}` (`make bench`, i.e. `python -m bench`, runs it with the "
        "defaults after the checkout benchmark)",
        f"- **Date:** {run.date:%Y-%m-%d %H:%M} UTC",
        f"- **Code under test:** {run.code}",
        f"- **Machine:** {m.cpus} CPUs ({m.cpu_model}), {m.ram_gib:.1f} GiB RAM, {m.kernel}; "
        f"Python {m.python}; PostgreSQL {run.postgres_version} (embedded, same settings as "
        "`payplane up`: fsync and synchronous_commit on); NATS with JetStream (embedded, file "
        f"storage, as `payplane up` starts it); load average at start {m.loadavg[0]:.2f}",
        f"- **Load:** open loop, {rate.rate:,.0f} events/s asked for: {rate.batch} events per "
        f"transaction every {interval_ms:g} ms on up to {rate.connections} connections, "
        f"{result.warmup:g} s warm-up (delivered before the window opens), {rate.duration:g} s "
        "measured. Rows are written with SQL into `events` as the chaos test does (no payment "
        "behind them, so the api is idle); their data is a real payment_intent object, webhook "
        f"bodies {result.body_bytes:,.0f} bytes on average. Latency = receipt time - time "
        "right after COMMIT returned, both time.time() in the benchmark process.",
        "- **Endpoint:** one, created with `POST /v1/webhook_endpoints` "
        "(`enabled_events[]=*`), served in the benchmark process by a minimal HTTP/1.1 "
        "server on uvloop in its own thread (Nagle off) that answers 200 at once and verifies "
        "every Stripe-Signature",
        f"- **Platform:** one worker process (runs the relay, the fan-out and the deliveries), "
        f"{run.api_workers} api worker processes (used only by the set-up), the PSP simulator; "
        f"settings: {_settings_text(run)}",
        "",
        "### Result",
        "",
        *markdown_table(
            ["figure", "value"],
            [
                [
                    "events inserted (asked for)",
                    f"{rate.inserted:,} ({round(rate.duration * rate.rate):,})",
                ],
                ["achieved insert rate", f"**{rate.achieved_rate:,.1f} events/s**"],
                ["insert errors", str(rate.insert_errors)],
                [
                    f"delivered within {rate.drain_timeout:g} s of the last commit",
                    f"{rate.received - rate.received_late:,} of {rate.inserted:,}",
                ],
                ["last delivery after the last commit", f"{rate.drained_in:.2f} s"],
                [
                    "latency p50 / p95 / p99 (commit -> receipt)",
                    f"**{_ms(p[50])} / {_ms(p[95])} / {_ms(p[99])} ms**",
                ],
                [
                    "deliveries/s over the window (first insert -> last receipt)",
                    f"{delivered_rate(rate):,.0f}",
                ],
                *(
                    [
                        [
                            f"relay throughput, backlog of {backlog.events:,}",
                            f"**{_num(backlog.relay_rate)} events/s**",
                        ],
                        [
                            "delivery throughput, same backlog",
                            f"**{_num(backlog.delivery_rate)} deliveries/s**",
                        ],
                    ]
                    if backlog
                    else []
                ),
                [
                    "duplicates / bad signatures at the receiver (whole run)",
                    f"{result.duplicates} / {result.bad_signatures}",
                ],
            ],
        ),
        "",
        "### Latency from COMMIT (ms), rate phase",
        "",
        "`published_at` is set by the relay's UPDATE after JetStream acknowledged the batch, "
        "`created_at` at the start of the fan-out's transaction: PostgreSQL's now(), the same "
        "machine clock as time.time(). Events not received within the drain timeout count as "
        "lost (infinitely late) in the percentiles.",
        "",
        *markdown_table(
            ["reached", "count", "p50", "p95", "p99", "max", "mean"],
            stage_rows(rate),
        ),
        "",
    ]
    if backlog is not None:
        lines += [
            "### Backlog: relay and delivery throughput",
            "",
            f"{backlog.events:,} events inserted in one transaction ({backlog.insert_seconds:.2f} "
            "s) on an idle pipeline, then timed from its COMMIT: the relay's progress from "
            "`published_at`, the deliveries' from the receiver; the worker fans out and delivers "
            f"while its relay still publishes. Deliveries are counted for {backlog.timeout:g} s.",
            "",
            *markdown_table(
                ["figure", "value"],
                [
                    ["first events published", f"{backlog.first_published_in * 1000:,.0f} ms"],
                    [
                        "all published",
                        f"{backlog.published_in:.2f} s ({backlog.relay_batches} relay rounds)",
                    ],
                    [
                        "relay throughput (after the first round)",
                        f"**{_num(backlog.relay_rate)}** ({_num(backlog.relay_steady_rate)}) "
                        "events/s",
                    ],
                    ["first delivery received", f"{backlog.first_received_in * 1000:,.0f} ms"],
                    [
                        "received",
                        f"{backlog.received:,} of {backlog.events:,} in "
                        f"{backlog.received_in:.1f} s",
                    ],
                    [
                        "delivery throughput",
                        f"**{_num(backlog.delivery_rate)}** deliveries/s",
                    ],
                ],
            ),
            "",
        ]
    cpu_header = ["process", "CPU s", "cores", f"of {rate.cpu.cores} cores", "ms per event"]
    if backlog is not None:
        cpu_header += ["backlog: cores", "ms per delivery"]
    lines += [
        "### CPU",
        "",
        "Per process tree (psutil, children included), and machine-wide from /proc/stat. Rate "
        f"phase: from the first insert until the last measured event arrived ({rate.cpu.wall:.1f} "
        "s), per event inserted"
        + (
            f"; backlog: from its insert until the last delivery counted "
            f"({backlog.cpu.wall:.1f} s), per delivery received."
            if backlog
            else "."
        )
        + " The load generator is the benchmark process: the receiver's thread and the rest "
        "(inserter, samplers).",
        "",
        *markdown_table(
            cpu_header,
            cpu_rows(rate, backlog.cpu if backlog else None, backlog.received if backlog else 0),
        ),
        "",
    ]
    db = database_rows(rate)
    if db:
        lines += [
            "### PostgreSQL",
            "",
            "Rate phase, from pg_stat_database / pg_stat_io (flushed about once a second: "
            "approximate).",
            "",
            *markdown_table(["figure", "source", "per second", "per event"], db, right_from=2),
            "",
        ]
    for title, waits in (
        ("rate phase", rate.postgres_waits),
        ("backlog", backlog.postgres_waits if backlog else []),
    ):
        if waits:
            lines += [
                f"Backends of the payplane database that were not idle, {title}, sampled from "
                "pg_stat_activity every 0.1 s (average number in each state, with the start of "
                "the statement of active ones):",
                "",
                *markdown_table(
                    ["state, wait event (statement)", "average backends"], wait_rows(waits)
                ),
                "",
            ]
    lines += [
        "### Interpretation (generated from the figures above)",
        "",
        *(f"- {note}" for note in interpretation(run)),
        END,
    ]
    return "\n".join(lines) + "\n"


def write_events_docs(run: EventsRun) -> None:
    write_section(markdown(run), START, END, DOCS)
