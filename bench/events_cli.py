"""`python -m bench events`: the event pipeline benchmark (see bench/events.py)."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import uvloop
from rich.console import Console
from rich.markup import escape

from bench.events import EventLoad, EventsResult, Options
from bench.events_report import EventsRun, print_events_summary, write_events_docs
from bench.pgstats import postgres_counters
from bench.platform import running_platform
from bench.receiver import Receiver
from bench.report import DOCS, Machine, code_under_test
from payplane.config import Settings
from payplane.runtime.processes import StartupError

DEFAULT_API_WORKERS = 2
# Settings of the platform the report names (and --set may change).
REPORTED_SETTINGS = (
    "relay_batch_size",
    "relay_poll_seconds",
    "webhook_concurrency",
    "webhook_endpoint_concurrency",
    "webhook_poll_seconds",
    "db_pool_size",
)


def parse_events_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench events",
        description="Event pipeline benchmark: outbox events committed at a steady rate, timed "
        "from COMMIT to receipt at a merchant webhook endpoint (relay -> NATS JetStream -> "
        "fan-out -> signed HTTP POST); then a backlog, timed until published and delivered.",
    )
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s inserted (1000)")
    parser.add_argument("--batch", type=int, default=10, help="events per transaction (10)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds inserting (20)")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds inserting before, not counted (3)"
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=8,
        help="inserter connections: a batch waits only when all are busy (8)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        help="seconds after the last commit to wait for deliveries; later ones count as lost (30)",
    )
    parser.add_argument(
        "--backlog", type=int, default=20_000, help="events of the backlog phase, 0 skips it"
    )
    parser.add_argument(
        "--backlog-timeout",
        type=float,
        default=20.0,
        help="seconds the backlog's deliveries are counted for (20)",
    )
    parser.add_argument(
        "--api-workers",
        type=int,
        default=DEFAULT_API_WORKERS,
        help=f"api worker processes ({DEFAULT_API_WORKERS}; idle here but for the set-up)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="a platform setting (a Settings field, e.g. webhook_endpoint_concurrency=16), "
        "JSON or a plain string; repeatable",
    )
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    parser.add_argument(
        "--keep-logs",
        metavar="DIR",
        type=Path,
        help="copy the platform's logs (api, worker, simulator, postgres, nats) to DIR at the end",
    )
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.batch < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("--rate > 0, --batch >= 1, --duration > 0 and --warmup >= 0, please")
    if args.connections < 1 or args.backlog < 0 or args.api_workers < 1:
        parser.error("--connections >= 1, --backlog >= 0 and --api-workers >= 1, please")
    args.overrides = dict(_setting(parser, text) for text in args.overrides)
    return args


def _setting(parser: argparse.ArgumentParser, text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    name = name.strip().lower().removeprefix("payplane_")
    if not sep or name not in Settings.model_fields:
        parser.error(f"--set {text}: not NAME=VALUE with NAME a setting of payplane.config")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def run_events(args: argparse.Namespace, command: str) -> EventsResult:
    console = Console()
    machine = Machine.current()
    code = code_under_test()
    options = Options(
        rate=args.rate,
        batch=args.batch,
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        drain_timeout=args.drain_timeout,
        backlog=args.backlog,
        backlog_timeout=args.backlog_timeout,
    )
    with _signals_interrupt():
        try:
            with (
                _receiver() as receiver,
                running_platform(
                    args.api_workers,
                    say=console.print,
                    keep_logs=args.keep_logs,
                    with_nats=True,
                    overrides=args.overrides,
                ) as platform,
                postgres_counters(platform.admin_url) as sample_postgres,
            ):
                postgres_version = platform.server_version()
                settings = platform.settings
                console.print(
                    f"platform up: api {platform.api_url}, PostgreSQL {postgres_version}, NATS "
                    f"{settings.nats_url}; receiver {receiver.url}"
                )
                load = EventLoad(
                    platform,
                    receiver,
                    options,
                    sample_postgres=sample_postgres,
                    say=console.print,
                )
                result = uvloop.run(load.run())
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]: platform stopped, temp dir removed")
            raise SystemExit(130) from None
        except StartupError as exc:
            console.print(f"[bold red]the platform did not start:[/] {escape(str(exc))}")
            raise SystemExit(1) from None
    run = EventsRun(
        command=command,
        date=datetime.now(UTC),
        machine=machine,
        code=code,
        postgres_version=postgres_version,
        api_workers=args.api_workers,
        settings={name: getattr(settings, name) for name in REPORTED_SETTINGS},
        overrides=args.overrides,
        result=result,
    )
    print_events_summary(console, run)
    if not args.no_write:
        write_events_docs(run)
        console.print(f"\nwrote the Event pipeline section of {DOCS}")
    return result


@contextlib.contextmanager
def _receiver() -> Iterator[Receiver]:
    # Outside the platform: it stops after the worker, which then has nothing in flight to it.
    receiver = Receiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt
