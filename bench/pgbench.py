"""pgbench tpcb-like on the benchmark's PostgreSQL: the physical reference for the checkout run.

Runs in its own database (bench_pgbench) after the checkout load, never concurrently with it.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import time
from dataclasses import dataclass

import psycopg
from psycopg import sql

from bench import cpu
from bench.platform import Platform
from payplane.runtime.postgres import ROLE, bin_path

DATABASE = "bench_pgbench"
_TPS = re.compile(r"tps = ([0-9.]+) \(without initial connection time\)")
_LATENCY = re.compile(r"latency average = ([0-9.]+) ms")
_TRANSACTIONS = re.compile(r"number of transactions actually processed: (\d+)")


@dataclass(frozen=True)
class PgbenchResult:
    command: str
    scale: int
    clients: int
    threads: int
    duration: int
    tps: float
    latency_avg_ms: float
    transactions: int
    init_seconds: float
    cpu: cpu.CpuUsage


def run_pgbench(
    platform: Platform, *, scale: int = 10, clients: int = 8, threads: int = 2, duration: int = 15
) -> PgbenchResult:
    with psycopg.connect(platform.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(DATABASE)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(DATABASE), sql.Identifier(ROLE)
            )
        )
    pgbench = str(bin_path("pgbench"))
    connection = ["-h", "127.0.0.1", "-p", str(platform.postgres.port), "-U", ROLE]
    env = {**os.environ, "PGAPPNAME": "bench-pgbench"}
    started = time.perf_counter()
    _run([pgbench, "-i", "-q", "-s", str(scale), *connection, DATABASE], env)
    init_seconds = time.perf_counter() - started

    argv = [
        pgbench, "-c", str(clients), "-j", str(threads), "-T", str(duration),
        "-b", "tpcb-like", *connection, DATABASE,
    ]  # fmt: skip
    trees = {"postgres": platform.postmaster_pid()}
    before = cpu.sample(trees, include_self=False)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = _run(argv, env)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = cpu.sample(trees, include_self=False)
    usage = cpu.usage(before, after)
    usage.groups["pgbench (client)"] = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )

    tps = _TPS.search(output)
    if tps is None:
        raise RuntimeError(f"no TPS in pgbench's output:\n{output}")
    latency = _LATENCY.search(output)
    transactions = _TRANSACTIONS.search(output)
    return PgbenchResult(
        command=" ".join(["pgbench", *argv[1:]]),
        scale=scale,
        clients=clients,
        threads=threads,
        duration=duration,
        tps=float(tps.group(1)),
        latency_avg_ms=float(latency.group(1)) if latency else float("nan"),
        transactions=int(transactions.group(1)) if transactions else 0,
        init_seconds=init_seconds,
        cpu=usage,
    )


def _run(argv: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed with code {result.returncode}:\n{output}")
    return output
