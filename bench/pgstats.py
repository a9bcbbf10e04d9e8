"""Counters of the payplane database and the WAL, read over one superuser connection.

pg_stat_database and pg_stat_io are flushed by backends about once a second: the differences
between two samples are approximate.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import psycopg

_NAMES = (
    "xact_commit", "xact_rollback", "tup_inserted", "tup_updated",
    "wal_bytes", "wal_writes", "wal_fsyncs",
)  # fmt: skip


@contextlib.contextmanager
def postgres_counters(admin_url: str) -> Iterator[Callable[[], dict[str, float]]]:
    with psycopg.connect(admin_url, autocommit=True) as conn:

        def sample() -> dict[str, float]:
            row = conn.execute(
                "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated,"
                " pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0'),"
                " (SELECT coalesce(sum(writes), 0) FROM pg_stat_io WHERE object = 'wal'),"
                " (SELECT coalesce(sum(fsyncs), 0) FROM pg_stat_io WHERE object = 'wal')"
                " FROM pg_stat_database WHERE datname = 'payplane'"
            ).fetchone()
            assert row is not None
            return {name: float(value) for name, value in zip(_NAMES, row, strict=True)}

        yield sample
