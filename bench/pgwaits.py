"""What PostgreSQL's backends were doing during the measured window, sampled from pg_stat_activity.

A background thread with its own connection samples every non-idle backend of the payplane
database; the result is the average number of backends in each state / wait event, which tells
"waiting for the application" (idle in transaction) from lock waits, WAL fsyncs and real work.
"""

from __future__ import annotations

import threading
from collections import Counter

import psycopg

INTERVAL_SECONDS = 0.1
_QUERY = """
SELECT state, coalesce(wait_event_type || ': ' || wait_event, 'running'),
       CASE WHEN wait_event_type = 'Lock' OR (%(all_queries)s AND state = 'active')
            THEN left(btrim(regexp_replace(query, '\\s+', ' ', 'g')), %(width)s)
       END
  FROM pg_stat_activity
 WHERE datname = 'payplane' AND state <> 'idle' AND pid <> pg_backend_pid()
"""


class WaitSampler:
    """`all_queries`: name the statement of every active backend, not only of lock waits."""

    def __init__(self, admin_url: str, *, all_queries: bool = False, width: int = 48) -> None:
        self._url = admin_url
        self._params = {"all_queries": all_queries, "width": width}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._counts: Counter[str] = Counter()
        self._samples = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pg-wait-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def averages(self) -> list[tuple[str, float]]:
        """(state and wait, average number of backends in it), most frequent first."""
        if not self._samples:
            return []
        return [(key, count / self._samples) for key, count in self._counts.most_common()]

    def _run(self) -> None:
        with psycopg.connect(self._url, autocommit=True) as conn:
            while not self._stop.wait(INTERVAL_SECONDS):
                rows = conn.execute(_QUERY, self._params).fetchall()
                self._samples += 1
                for state, wait, query in rows:
                    key = f"{state}, {wait}" + (f" ({query} ...)" if query else "")
                    self._counts[key] += 1
