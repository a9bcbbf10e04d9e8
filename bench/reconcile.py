"""`python -m bench reconcile`: reconciling a settlement report of a million lines.

An embedded PostgreSQL of its own (migrated, the settings of `payplane up`) and no other process:
the report is handed over from memory in the simulator's CSV format, so the figure is Payplane's
run itself, through the real ReconciliationService as the app role in one transaction, exactly
as `payplane reconcile` runs it: parse (CSV -> typed lines in Python), load (the raw report and
a COPY of its lines), match (set-based SQL), post (journals, items, matches, commit).

The books come first and are timed apart: N captured payments generated inside the database
(INSERT ... SELECT over generate_series, as the owner with triggers and foreign keys off, which
the generator keeps consistent by construction; account balances summed in one statement), and
the report built in Python. A few breaks of three kinds are mixed in.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import uvloop
from rich.console import Console

from bench.reconcile_report import ReconcileRun, print_reconcile_summary, write_reconcile_docs
from bench.report import DOCS, Machine, code_under_test
from payplane.runtime.postgres import EmbeddedPostgres
from payplane.runtime.processes import free_port

SOURCE = "simulator"
MERCHANT = "acct_bench_reconcile"


@dataclass
class Books:
    payments: int
    breaks: int  # of each kind: amount off by 3, unknown capture, capture left out
    seconds: float = 0.0
    report: bytes = b""
    report_seconds: float = 0.0
    lines: int = 0

    def amount(self, i: int) -> int:
        return 1000 + i % 9000

    def mismatched(self, i: int) -> bool:
        return i % (self.payments // self.breaks) == 1

    def left_out(self, i: int) -> bool:
        return i % (self.payments // self.breaks) == 2


@dataclass
class Outcome:
    seconds: dict[str, float]
    breaks: dict[str, int]
    rerun_seconds: float
    rerun_replayed: bool
    postgres_version: str = ""
    journals: int = 0
    extra: dict[str, int] = field(default_factory=dict)


def parse_reconcile_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench reconcile",
        description="Reconciliation benchmark: N captured payments generated in a private "
        "embedded PostgreSQL, an N-line settlement report in the simulator's format, then one "
        "reconciliation run timed by phase (parse, load, match, post).",
    )
    parser.add_argument("--payments", type=int, default=1_000_000, help="payments (1000000)")
    parser.add_argument(
        "--breaks", type=int, default=100, help="breaks of each of three kinds (100)"
    )
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.payments < 1000 or not 1 <= args.breaks <= args.payments // 1000:
        parser.error("--payments >= 1000 and 1 <= --breaks <= payments / 1000, please")
    return args


def run_reconcile(args: argparse.Namespace, command: str) -> None:
    console = Console()
    machine, code = Machine.current(), code_under_test()
    books = Books(args.payments, args.breaks)
    with _database(console) as url:
        console.print(f"generating {books.payments:,} captured payments in the database ...")
        started = time.perf_counter()
        _generate(url, books)
        books.seconds = time.perf_counter() - started
        console.print(f"... {books.seconds:.1f} s; building the report ...")
        started = time.perf_counter()
        books.report, books.lines = _report(books)
        books.report_seconds = time.perf_counter() - started
        console.print(
            f"... {books.lines:,} lines, {len(books.report) / 2**20:.0f} MiB in "
            f"{books.report_seconds:.1f} s; reconciling ..."
        )
        outcome = uvloop.run(_reconcile(url, books.report))
    run = ReconcileRun(command, datetime.now(UTC), machine, code, books, outcome)
    print_reconcile_summary(console, run)
    if not args.no_write:
        write_reconcile_docs(run)
        console.print(f"\nwrote the Reconciliation section of {DOCS}")


@contextlib.contextmanager
def _database(console: Console) -> Iterator[str]:
    from payplane import bootstrap

    home = Path(tempfile.mkdtemp(prefix="payplane-bench-reconcile-"))
    postgres = EmbeddedPostgres(home / "pg", free_port())
    try:
        console.print(f"starting embedded PostgreSQL in {postgres.data_dir} ...")
        url = postgres.start()
        bootstrap.migrate(url)
        yield url
    finally:
        postgres.stop()
        shutil.rmtree(home, ignore_errors=True)


_GENERATE = """
INSERT INTO merchants (id, name) VALUES (%(merchant)s, 'Bench merchant');
INSERT INTO payment_intents (id, merchant_id, amount, currency, status, capture_method, connector,
                             created, amount_received, latest_charge)
SELECT 'pi_bench' || i, %(merchant)s, 1000 + i %% 9000, 'usd', 'succeeded', 'automatic',
       %(source)s, %(now)s, 1000 + i %% 9000, 'ch_bench' || i
  FROM generate_series(1, %(n)s) i;
INSERT INTO payment_attempts (id, payment_intent_id, merchant_id, kind, status, connector,
                              psp_idempotency_key, psp_reference, charge_id, amount, currency,
                              payment_method, capture)
SELECT 'att_bench' || i, 'pi_bench' || i, %(merchant)s, 'authorize', 'succeeded', %(source)s,
       'att_bench' || i, 'psp_bench' || i, 'ch_bench' || i, 1000 + i %% 9000, 'usd',
       'pm_card_visa', true
  FROM generate_series(1, %(n)s) i;
INSERT INTO ledger_accounts (code, currency, merchant_id) VALUES
    ('psp:' || %(source)s || ':usd:authorizations', 'usd', NULL),
    ('psp:' || %(source)s || ':usd:receivable', 'usd', NULL),
    ('merchant:' || %(merchant)s || ':usd:authorized', 'usd', %(merchant)s),
    ('merchant:' || %(merchant)s || ':usd:payable', 'usd', %(merchant)s);
INSERT INTO ledger_journals (id, kind, payment_intent_id, hold_id, resolves_hold_id)
SELECT j.id, j.kind, 'pi_bench' || i, j.hold, j.resolves
  FROM generate_series(1, %(n)s) i
 CROSS JOIN LATERAL (VALUES ('jrn_bench_a' || i, 'authorization', 'att_bench' || i, NULL),
                            ('jrn_bench_c' || i, 'capture', NULL, 'att_bench' || i))
       AS j(id, kind, hold, resolves);
WITH accounts AS (
    SELECT max(id) FILTER (WHERE code LIKE 'psp:%%:authorizations') AS holds,
           max(id) FILTER (WHERE code LIKE 'psp:%%:receivable') AS receivable,
           max(id) FILTER (WHERE code LIKE '%%:authorized') AS authorized,
           max(id) FILTER (WHERE code LIKE '%%:payable') AS payable
      FROM ledger_accounts
)
INSERT INTO ledger_entries (journal_id, payment_intent_id, account_id, direction, amount,
                            currency, entry_type)
SELECT e.journal, 'pi_bench' || i, e.account, e.direction, 1000 + i %% 9000, 'usd', e.type
  FROM accounts a, generate_series(1, %(n)s) i
 CROSS JOIN LATERAL (VALUES
        ('jrn_bench_a' || i, a.holds, 'debit', 'auth'),
        ('jrn_bench_a' || i, a.authorized, 'credit', 'auth'),
        ('jrn_bench_c' || i, a.authorized, 'debit', 'auth'),
        ('jrn_bench_c' || i, a.holds, 'credit', 'auth'),
        ('jrn_bench_c' || i, a.receivable, 'debit', 'capture'),
        ('jrn_bench_c' || i, a.payable, 'credit', 'capture'))
       AS e(journal, account, direction, type);
INSERT INTO ledger_account_balances (account_id, shard, debits, credits)
SELECT account_id, 0, coalesce(sum(amount) FILTER (WHERE direction = 'debit'), 0),
       coalesce(sum(amount) FILTER (WHERE direction = 'credit'), 0)
  FROM ledger_entries GROUP BY account_id;
"""


def _generate(url: str, books: Books) -> None:
    """As the superuser: session_replication_role = replica turns triggers and foreign key
    checks off for the bulk insert (the rows are consistent by construction)."""
    superuser = url.replace("//payplane@", "//postgres@", 1)
    with psycopg.connect(superuser, autocommit=True) as conn:
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            params = {
                "merchant": MERCHANT,
                "source": SOURCE,
                "n": books.payments,
                "now": int(time.time()),
            }
            for statement in _GENERATE.split(";\n"):
                if statement.strip():
                    conn.execute(statement, params)
        # Statistics as a live system has them, and the generator's writes out of the way: a
        # checkpoint writing them back during the run would be timed with it.
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


def _report(books: Books) -> tuple[bytes, int]:
    """The settlement report of today in the simulator's format: one Settled line per payment,
    but for a few off by 3, a few left out, and a few captures nobody knows; and the payout."""
    from payplane.domain.settlement import HEADER

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    lines, payout = 0, 0
    extra = [(f"psp_unknown{k}", "unknown", 5000) for k in range(books.breaks)]
    known = (
        (f"psp_bench{i}", f"pi_bench{i}", books.amount(i) + 3 * books.mismatched(i))
        for i in range(1, books.payments + 1)
        if not books.left_out(i)
    )
    for psp, reference, gross in (*known, *extra):
        fee = 25 + (gross * 140 + 5000) // 10000
        payout += gross - fee
        lines += 1
        writer.writerow(
            ("PayplaneSim", "PayplaneSimMerchant", psp, reference, "visa", stamp, "UTC",
             "Settled", psp, "USD", "", _usd(gross), "1", "USD", "", _usd(gross - fee),
             _usd(fee), "1")
        )  # fmt: skip
    writer.writerow(
        ("PayplaneSim", "PayplaneSimMerchant", "", "", "", stamp, "UTC", "MerchantPayout",
         "payout_1", "", "", "", "1", "USD", _usd(payout), "", "", "1")
    )  # fmt: skip
    return buffer.getvalue().encode(), lines + 1


def _usd(amount: int) -> str:
    return f"{amount // 100}.{amount % 100:02d}"


class _MemoryReports:
    def __init__(self, body: bytes) -> None:
        self._body = body

    async def fetch(self, day: date) -> bytes:
        del day
        return self._body


class _NoPsp:
    """Reconciliation asks a PSP only about captures in doubt; the bench has none."""

    name = SOURCE
    methods: dict[str, object] = {}  # noqa: RUF012 (never changed)


async def _reconcile(url: str, body: bytes) -> Outcome:
    from payplane.adapters.clock import SystemClock
    from payplane.adapters.db.pool import create_pool
    from payplane.adapters.db.uow import PgUnitOfWorkFactory
    from payplane.config import DEFAULT_FEE_SCHEDULE
    from payplane.domain.ids import new_id
    from payplane.services.connectors import Connectors
    from payplane.services.ports import RequestContext
    from payplane.services.reconciliation import ReconciliationService
    from payplane.services.reconciliation_ports import FeeRate, Source
    from payplane.services.remediation import OPERATOR_SCOPE, RemediationService
    from payplane.services.runner import AttemptRunner

    pool = create_pool(url, size=2)
    await pool.open(wait=True)
    try:
        uow, clock = PgUnitOfWorkFactory(pool), SystemClock()
        runner = AttemptRunner(
            uow, Connectors([_NoPsp()]), clock, lock_seconds=60, capture_window=3600
        )
        fees = {name: FeeRate(r.bps, r.fixed) for name, r in DEFAULT_FEE_SCHEDULE.items()}
        service = ReconciliationService(
            uow, [], RemediationService(runner), clock, fees=fees, lock_seconds=60
        )
        source = Source(SOURCE, (SOURCE,), _MemoryReports(body))
        ctx = RequestContext(OPERATOR_SCOPE, "bench", new_id("req"))
        today = datetime.now(UTC).date()
        first = await service.reconcile(source, today, ctx)
        started = time.perf_counter()
        again = await service.reconcile(source, today, ctx)
        rerun = time.perf_counter() - started
        async with pool.connection() as conn:
            version = await (await conn.execute("SHOW server_version")).fetchone()
    finally:
        await pool.close()
    breaks = {kind: found["count"] for kind, found in first.run["summary"]["breaks"].items()}
    return Outcome(
        seconds=first.seconds,
        breaks=breaks,
        rerun_seconds=rerun,
        rerun_replayed=again.replayed,
        postgres_version=str(version[0]) if version else "?",
        journals=len(first.run["summary"]["batches"])
        + len(first.run["summary"]["missing_in_report_journals"]),
        extra={"matched": first.run["summary"]["matched"]["count"]},
    )
