"""`python -m bench [checkout | events | reconcile | all] [options]`: the benchmarks (see
bench/__init__.py and docs/benchmarks.md).

Without any argument (`make bench`) it runs them all, each on a platform of its own, one after
the other. Options without a subcommand are the checkout benchmark's, as before subcommands
existed: `python -m bench --users 16` is `python -m bench checkout --users 16`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import uvloop
from rich.console import Console
from rich.markup import escape

from bench import cpu
from bench.client import Client, HttpxClient, RawClient
from bench.load import CheckoutLoad, LoadResult
from bench.pgbench import run_pgbench
from bench.pgstats import postgres_counters
from bench.pgwaits import WaitSampler
from bench.platform import Platform, running_platform
from bench.report import DOCS, Machine, Run, code_under_test, print_summary, write_docs
from payplane.runtime.processes import StartupError

DEFAULT_API_WORKERS = 2


SUBCOMMANDS = ("checkout", "events", "reconcile", "all")
# The open-loop run of `all`: about 55 % of what the closed loop sustains on the 2-core machine
# of docs/benchmarks.md, a busy but not saturated platform.
ALL_RATE = 40.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench [checkout]",
        description="Checkout benchmark: create + confirm + capture through the PSP simulator "
        "(latency 0) on a private platform, then pgbench tpcb-like on the same PostgreSQL.",
    )
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds (20)")
    parser.add_argument("--warmup", type=float, default=5.0, help="warm-up seconds (5)")
    parser.add_argument("--users", type=int, default=32, help="concurrent virtual users (32)")
    parser.add_argument(
        "--rate",
        type=float,
        help="open loop instead of users: checkouts arriving at random at this average rate per "
        "second, latency counted from each arrival (writes its own docs section; no pgbench)",
    )
    parser.add_argument(
        "--api-workers",
        type=int,
        default=DEFAULT_API_WORKERS,
        help=f"api worker processes ({DEFAULT_API_WORKERS})",
    )
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="load generator HTTP client: raw asyncio streams (default) or httpx.AsyncClient",
    )
    parser.add_argument("--skip-pgbench", action="store_true", help="skip the pgbench reference")
    parser.add_argument("--pgbench-duration", type=int, default=15, help="pgbench -T seconds (15)")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    parser.add_argument(
        "--keep-logs",
        metavar="DIR",
        type=Path,
        help="copy the platform's logs (api, worker, simulator, postgres) to DIR at the end",
    )
    parser.add_argument(
        "--profile-api",
        metavar="FILE",
        type=Path,
        help="record the api process(es) with py-spy (on PATH) during the measured window, as "
        "collapsed stacks in FILE; py-spy takes CPU too, so the figures of such a run are low",
    )
    args = parser.parse_args(argv)
    if args.users < 1 or args.api_workers < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("--users and --api-workers must be >= 1, --duration > 0, --warmup >= 0")
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate must be > 0")
    if args.profile_api and shutil.which("py-spy") is None:
        parser.error("--profile-api needs py-spy on PATH (e.g. pip install py-spy in a venv)")
    return args


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "-m", "bench", *argv])
    if os.environ.get("PYTHONPATH"):
        command = f"PYTHONPATH={shlex.quote(os.environ['PYTHONPATH'])} {command}"
    if not argv:
        name, rest = "all", []
    elif argv[0] in SUBCOMMANDS:
        name, rest = argv[0], argv[1:]
    elif argv[0] in ("-h", "--help"):
        print(__doc__.strip() + "\n\nMore: python -m bench {checkout,events,reconcile,all} --help")
        return
    else:
        name, rest = "checkout", argv
    if name == "checkout":
        checkout(parse_args(rest), command)
    elif name == "events":
        from bench.events_cli import parse_events_args, run_events

        run_events(parse_events_args(rest), command)
    elif name == "reconcile":
        from bench.reconcile import parse_reconcile_args, run_reconcile

        run_reconcile(parse_reconcile_args(rest), command)
    else:
        run_all(rest, command)


def run_all(argv: list[str], command: str) -> None:
    """Every benchmark with its defaults, one platform (or database) each; --no-write applies
    to all, --keep-logs DIR to the two with a platform (logs under DIR/checkout, DIR/events)."""
    from bench.events_cli import parse_events_args, run_events
    from bench.reconcile import parse_reconcile_args, run_reconcile

    parser = argparse.ArgumentParser(
        prog="python -m bench all",
        description="The checkout benchmark (closed loop, then open loop at "
        f"{ALL_RATE:g} checkouts/s), the event pipeline benchmark, then the reconciliation "
        "benchmark, each with its defaults on a platform (or database) of its own; each "
        "rewrites its own section of docs/benchmarks.md.",
    )
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    parser.add_argument("--keep-logs", metavar="DIR", type=Path, help="copy the platforms' logs")
    args = parser.parse_args(argv)
    shared: list[str] = ["--no-write"] if args.no_write else []
    for name in ("checkout", "checkout-rate", "events", "reconcile"):
        logs = ["--keep-logs", str(args.keep_logs / name)] if args.keep_logs else []
        Console().rule(f"[bold]{name} benchmark")
        if name == "checkout":
            checkout(parse_args([*shared, *logs]), command)
        elif name == "checkout-rate":
            checkout(parse_args([*shared, *logs, "--rate", f"{ALL_RATE:g}"]), command)
        elif name == "events":
            run_events(parse_events_args([*shared, *logs]), command)
        else:
            run_reconcile(parse_reconcile_args(shared), command)


def checkout(args: argparse.Namespace, command: str) -> None:
    console = Console()
    machine = Machine.current()
    code = code_under_test()
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        with running_platform(
            args.api_workers, say=console.print, keep_logs=args.keep_logs
        ) as platform:
            postgres_version = platform.server_version()
            console.print(
                f"platform up: api {platform.api_url}, PostgreSQL {postgres_version} on port "
                f"{platform.postgres.port}; "
                + (f"{args.rate:g} checkouts/s offered" if args.rate else f"{args.users} users")
                + f", {args.warmup:g} s warm-up, "
                f"{args.duration:g} s measured ..."
            )
            load = _run_load(platform, args)
            pgbench = None
            if not args.skip_pgbench and not args.rate:
                console.print(
                    f"checkout load done ({load.checkouts_per_second:.1f} checkouts/s); "
                    f"pgbench -i -s 10, then tpcb-like for {args.pgbench_duration} s ..."
                )
                pgbench = run_pgbench(platform, duration=args.pgbench_duration)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: platform stopped, temp dir removed")
        raise SystemExit(130) from None
    except StartupError as exc:
        console.print(f"[bold red]the platform did not start:[/] {escape(str(exc))}")
        raise SystemExit(1) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    run = Run(
        command=command,
        date=datetime.now(UTC),
        machine=machine,
        code=code,
        postgres_version=postgres_version,
        api_workers=args.api_workers,
        client=args.client,
        db_pool_size=platform.settings.db_pool_size,
        load=load,
        pgbench=pgbench,
    )
    print_summary(console, run)
    if not args.no_write:
        write_docs(run)
        console.print(f"\nwrote the Checkout section of {DOCS}")


def _run_load(platform: Platform, args: argparse.Namespace) -> LoadResult:
    api = urlsplit(platform.api_url)
    assert api.hostname is not None
    assert api.port is not None
    host, port = api.hostname, api.port

    def make_client() -> Client:
        if args.client == "httpx":
            return HttpxClient(platform.api_url, platform.secret_key)
        return RawClient(host, port, platform.secret_key)

    # Every process the launcher started (whatever child_processes returns), and PostgreSQL.
    trees = {name: platform.pid(name) for name in platform.children}
    trees["postgres"] = platform.postmaster_pid()
    waits = WaitSampler(platform.admin_url)
    with (
        postgres_counters(platform.admin_url) as sample_postgres,
        _profiler(args, platform) as profile,
    ):
        load = CheckoutLoad(
            make_client,
            users=args.users,
            rate=args.rate,
            warmup=args.warmup,
            duration=args.duration,
            sample_cpu=lambda: cpu.sample(trees),
            sample_postgres=sample_postgres,
            at_start=(profile, waits.start),
            at_end=(waits.stop,),
        )
        try:
            result = uvloop.run(load.run())
        finally:
            waits.stop()
    result.postgres_waits = waits.averages()
    return result


@contextlib.contextmanager
def _profiler(args: argparse.Namespace, platform: Platform) -> Iterator[Callable[[], None]]:
    """py-spy on the api (its workers included) for the measured window, if asked for."""
    processes: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        if args.profile_api is None:
            return
        py_spy = shutil.which("py-spy")
        assert py_spy is not None
        argv = [
            py_spy, "record", "--pid", str(platform.pid("api")), "--subprocesses",
            "--rate", "100", "--format", "raw", "--nonblocking",
            "--duration", str(int(args.duration)), "--output", str(args.profile_api),
        ]  # fmt: skip
        processes.append(
            subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

    try:
        yield start
    finally:
        for process in processes:
            try:
                process.wait(timeout=args.duration + 30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()
