"""The event pipeline load: outbox rows committed at a steady rate, timed until the merchant's
endpoint has them; then a backlog, timed until published and until delivered.

Events are inserted the way the chaos test does (tests/e2e/test_event_delivery_chaos.py): rows
of the events table written with SQL in their own transactions, without the payment that would
normally come with them, so the load generator is cheap and the api plays no part. Their data is
a real payment_intent object (from a payment made through the api at set-up), so messages and
webhook bodies have a realistic size.

Rate phase: open loop. Batch k of `batch` events is due at start + k * batch / rate and is sent
then, whatever happened to the batches before it, on one of `connections` connections (a slow
commit delays only its own batch; if all connections are busy the batch waits for one, and that
lag is reported). An event's commit time is time.time() right after COMMIT returned; its
latency is the receiver's time.time() at arrival minus that, on the same machine clock.

Backlog phase: `backlog` events in one transaction. The relay publishes them in batches of
relay_batch_size; published_at (set by the relay after JetStream acknowledged each batch) gives
the relay's throughput, and the receiver's arrival times give the deliveries' throughput. The
worker fans out and delivers while the relay still publishes, as it always does.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from psycopg.types.json import Jsonb

from bench import cpu
from bench.pgwaits import WaitSampler
from bench.platform import Platform
from bench.receiver import Receiver

RECEIVER = "merchant receiver"
INSERTER = "event inserter"
_SETUP_TIMEOUT_SECONDS = 20.0
_IDLE_TIMEOUT_SECONDS = 30.0

_INSERT = """
INSERT INTO events (id, merchant_id, type, object_id, payment_intent_id, data, request_id,
                    created)
SELECT 'evt_' || %(prefix)s || n, %(merchant)s, %(type)s, 'pi_' || %(prefix)s || n,
       'pi_' || %(prefix)s || n,
       jsonb_set(%(template)s::jsonb, '{id}', to_jsonb('pi_' || %(prefix)s || n)),
       'req_' || %(prefix)s || n, extract(epoch FROM now())::bigint
  FROM generate_series(%(first)s::int, %(last)s::int) AS n
"""
_STAGES = """
SELECT ev.id, extract(epoch FROM ev.published_at)::float8,
       extract(epoch FROM min(d.created_at))::float8
  FROM events ev LEFT JOIN webhook_deliveries d ON d.event_id = ev.id
 WHERE ev.id LIKE %s
 GROUP BY ev.id, ev.published_at
"""


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (exact, no interpolation)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def event_ids(prefix: str, first: int, count: int) -> list[str]:
    return [f"evt_{prefix}{n}" for n in range(first, first + count)]


@dataclass
class RatePhase:
    rate: float  # events/s asked for
    batch: int
    duration: float  # seconds of inserting asked for
    connections: int
    inserted: int
    wall: float  # first batch due -> last commit returned
    insert_errors: int
    max_lag: float  # worst delay of a batch behind its schedule (no idle connection)
    latencies: list[float]  # seconds, sorted; events never received are math.inf
    received: int
    received_late: int  # arrived after the drain timeout was over (not in the latencies)
    drain_timeout: float
    drained_in: float  # last commit -> last measured event received (or the timeout)
    # The CPU and PostgreSQL figures cover the busy window: first insert -> last arrival.
    relay_lags: list[float]  # commit -> published_at, sorted (published events only)
    fanout_lags: list[float]  # commit -> delivery row created, sorted
    cpu: cpu.CpuUsage
    postgres_stats: dict[str, float] = field(default_factory=dict)
    postgres_waits: list[tuple[str, float]] = field(default_factory=list)

    @property
    def achieved_rate(self) -> float:
        return self.inserted / self.wall if self.wall else 0.0


@dataclass
class BacklogPhase:
    events: int
    insert_seconds: float  # the one INSERT of all of them, commit included
    published_in: float  # commit -> last published_at
    relay_batches: int  # distinct published_at values (one per relay round)
    first_published_in: float  # commit -> first published_at
    received: int
    received_in: float  # commit -> last arrival (of those that arrived)
    first_received_in: float
    timeout: float
    cpu: cpu.CpuUsage  # insert -> all received (or the timeout)
    postgres_waits: list[tuple[str, float]] = field(default_factory=list)

    @property
    def relay_rate(self) -> float:
        return self.events / self.published_in if self.published_in > 0 else math.nan

    @property
    def delivery_rate(self) -> float:
        return self.received / self.received_in if self.received_in > 0 else math.nan

    @property
    def relay_steady_rate(self) -> float:
        """After the first relay round: the publishing rate without the wake-up."""
        span = self.published_in - self.first_published_in
        done = self.events * (self.relay_batches - 1) / self.relay_batches
        return done / span if span > 0 and self.relay_batches > 1 else math.nan

    @property
    def delivery_steady_rate(self) -> float:
        span = self.received_in - self.first_received_in
        return (self.received - 1) / span if span > 0 else math.nan


@dataclass
class EventsResult:
    endpoint_id: str
    body_bytes: float  # average size of a webhook request's body
    warmup: float
    rate: RatePhase
    backlog: BacklogPhase | None
    duplicates: int
    bad_signatures: int
    malformed: int
    requests: int


class Inserter:
    """Open-loop batches of events on a few connections of its own."""

    def __init__(
        self, database_url: str, merchant_id: str, template: dict[str, Any], connections: int
    ) -> None:
        self._url = database_url
        self._merchant = merchant_id
        self._template = Jsonb(template)
        self._connections = connections
        self._idle: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()
        self._all: list[psycopg.AsyncConnection[Any]] = []
        self.commits: dict[str, float] = {}  # event id -> time.time() after its COMMIT
        self.errors = 0
        self.error_examples: list[str] = []

    async def open(self) -> None:
        for _ in range(self._connections):
            conn = await psycopg.AsyncConnection.connect(self._url)
            await conn.execute("SET application_name = 'bench-inserter'")
            await conn.commit()
            self._all.append(conn)
            self._idle.put_nowait(conn)

    async def close(self) -> None:
        for conn in self._all:
            await conn.close()

    async def open_loop(
        self, prefix: str, *, rate: float, batch: int, seconds: float
    ) -> tuple[list[str], float, float]:
        """Insert for `seconds`; (ids of the events committed, wall seconds from the first
        batch's due time to the last commit, worst lag of a batch behind its due time)."""
        interval = batch / rate
        batches = max(1, round(seconds * rate / batch))
        tasks: list[asyncio.Task[int]] = []
        max_lag = 0.0
        start = time.perf_counter()
        for k in range(batches):
            due = start + k * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            conn = await self._idle.get()
            max_lag = max(max_lag, time.perf_counter() - due)
            tasks.append(asyncio.create_task(self._insert(conn, prefix, k * batch, batch)))
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - start
        ids = [i for i in event_ids(prefix, 0, batches * batch) if i in self.commits]
        return ids, wall, max_lag

    async def insert_all(self, prefix: str, count: int) -> float:
        """One transaction of `count` events; returns time.time() after its COMMIT."""
        conn = await self._idle.get()
        try:
            if await self._insert(conn, prefix, 0, count, release=False) != count:
                raise RuntimeError(f"the backlog insert failed: {self.error_examples[-1:]}")
        finally:
            self._idle.put_nowait(conn)
        return self.commits[f"evt_{prefix}{count - 1}"]

    async def _insert(
        self,
        conn: psycopg.AsyncConnection[Any],
        prefix: str,
        first: int,
        count: int,
        *,
        release: bool = True,
    ) -> int:
        try:
            await conn.execute(
                _INSERT,
                {
                    "prefix": prefix,
                    "merchant": self._merchant,
                    "type": "payment_intent.succeeded",
                    "template": self._template,
                    "first": first,
                    "last": first + count - 1,
                },
            )
            await conn.commit()
            committed = time.time()
            for event_id in event_ids(prefix, first, count):
                self.commits[event_id] = committed
            return count
        except psycopg.Error as exc:
            self.errors += 1
            if len(self.error_examples) < 5:
                self.error_examples.append(f"{type(exc).__name__}: {exc}"[:200])
            await conn.rollback()
            return 0
        finally:
            if release:
                self._idle.put_nowait(conn)


@dataclass
class Options:
    rate: float
    batch: int
    duration: float
    warmup: float
    connections: int
    drain_timeout: float
    backlog: int  # 0: skip the backlog phase
    backlog_timeout: float


class EventLoad:
    def __init__(
        self,
        platform: Platform,
        receiver: Receiver,
        options: Options,
        *,
        sample_postgres: Callable[[], dict[str, float]],
        say: Callable[[str], None],
    ) -> None:
        self._platform = platform
        self._receiver = receiver
        self._options = options
        self._sample_postgres = sample_postgres
        self._say = say
        self._run = uuid.uuid4().hex[:6]
        trees = {name: platform.pid(name) for name in platform.children}
        trees["postgres"] = platform.postmaster_pid()
        trees["nats"] = platform.nats_pid()
        self._trees = trees

    def _sample_cpu(self) -> tuple[cpu.Sample, float]:
        return cpu.sample(self._trees), self._receiver.cpu_seconds()

    def _usage(
        self, before: tuple[cpu.Sample, float], after: tuple[cpu.Sample, float]
    ) -> cpu.CpuUsage:
        usage = cpu.usage(before[0], after[0])
        # The benchmark process: the receiver's thread, and the rest (inserter, samplers).
        ours = usage.groups.pop(cpu.GENERATOR)
        receiver = after[1] - before[1]
        usage.groups[INSERTER] = max(0.0, ours - receiver)
        usage.groups[RECEIVER] = receiver
        return usage

    async def run(self) -> EventsResult:
        endpoint_id, template = await asyncio.to_thread(self._set_up)
        inserter = Inserter(
            self._platform.database_url,
            self._platform.merchant_id,
            template,
            self._options.connections,
        )
        await inserter.open()
        try:
            rate = await self._rate_phase(inserter)
            backlog = None
            if self._options.backlog:
                backlog = await self._backlog_phase(inserter)
        finally:
            await inserter.close()
        receiver = self._receiver
        return EventsResult(
            endpoint_id=endpoint_id,
            body_bytes=receiver.body_bytes / receiver.requests if receiver.requests else 0.0,
            warmup=self._options.warmup,
            rate=rate,
            backlog=backlog,
            duplicates=self._receiver.duplicates,
            bad_signatures=self._receiver.bad_signatures,
            malformed=self._receiver.malformed,
            requests=self._receiver.requests,
        )

    # -- set-up --------------------------------------------------------------------------------

    def _set_up(self) -> tuple[str, dict[str, Any]]:
        """The endpoint, through the api; then one real payment, whose events must arrive."""
        platform = self._platform
        headers = {"Authorization": f"Bearer {platform.secret_key}"}
        with httpx.Client(base_url=platform.api_url, headers=headers, timeout=10) as client:
            response = client.post(
                "/v1/webhook_endpoints",
                data={"url": self._receiver.url, "enabled_events[]": "*"},
                headers={"Idempotency-Key": f"bench-{self._run}-endpoint"},
            )
            response.raise_for_status()
            endpoint = response.json()
            self._receiver.secret = str(endpoint["secret"]).encode()
            response = client.post(
                "/v1/payment_intents",
                data={
                    "amount": "2000",
                    "currency": "usd",
                    "payment_method": "pm_card_visa",
                    "confirm": "true",
                },
                headers={"Idempotency-Key": f"bench-{self._run}-payment"},
            )
            response.raise_for_status()
            intent = response.json()
        with psycopg.connect(platform.database_url) as conn:
            rows = conn.execute(
                "SELECT id, type, data FROM events WHERE payment_intent_id = %s ORDER BY seq",
                (intent["id"],),
            ).fetchall()
        ids = [row[0] for row in rows]
        template = next((row[2] for row in rows if row[1] == "payment_intent.succeeded"), None)
        if template is None:
            raise RuntimeError(f"the set-up payment {intent['id']} has no succeeded event")
        deadline = time.monotonic() + _SETUP_TIMEOUT_SECONDS
        while self._receiver.received_among(ids) < len(ids):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the set-up payment's {len(ids)} events did not reach the receiver within "
                    f"{_SETUP_TIMEOUT_SECONDS:g} s (got {self._receiver.received_among(ids)}); "
                    "is the worker's relay publishing? (--keep-logs DIR keeps its log)"
                )
            time.sleep(0.05)
        self._say(
            f"endpoint {endpoint['id']} -> {self._receiver.url}; the set-up payment's "
            f"{len(ids)} events arrived"
        )
        return str(endpoint["id"]), template

    # -- rate ----------------------------------------------------------------------------------

    async def _rate_phase(self, inserter: Inserter) -> RatePhase:
        o = self._options
        if o.warmup > 0:
            self._say(f"warm-up: {o.rate:g} events/s for {o.warmup:g} s, then until delivered ...")
            ids, _, _ = await inserter.open_loop(
                f"bench{self._run}w", rate=o.rate, batch=o.batch, seconds=o.warmup
            )
            await self._wait_for(ids, time.time() + o.drain_timeout)
            await self._until_idle()
        prefix = f"bench{self._run}m"
        self._say(
            f"measuring: {o.rate:g} events/s in transactions of {o.batch} for {o.duration:g} s, "
            "then until delivered ..."
        )
        # The window runs from the first insert until the last of these events arrived (or the
        # drain timeout), so it holds all the work they cause and, from an idle start, no other.
        waits = WaitSampler(self._platform.admin_url, all_queries=True)
        pg_before = self._sample_postgres()
        before = self._sample_cpu()
        waits.start()
        try:
            ids, insert_wall, max_lag = await inserter.open_loop(
                prefix, rate=o.rate, batch=o.batch, seconds=o.duration
            )
            last_commit = max((inserter.commits[i] for i in ids), default=time.time())
            deadline = last_commit + o.drain_timeout
            drained_at = await self._wait_for(ids, deadline)
        finally:
            waits.stop()
        after = self._sample_cpu()
        pg_after = self._sample_postgres()
        arrivals = self._receiver.arrivals
        latencies = sorted(
            arrivals[i] - inserter.commits[i]
            if i in arrivals and arrivals[i] <= deadline
            else math.inf
            for i in ids
        )
        received = sum(1 for i in ids if i in arrivals)
        relay_lags, fanout_lags = await asyncio.to_thread(self._stages, prefix, inserter.commits)
        return RatePhase(
            rate=o.rate,
            batch=o.batch,
            duration=o.duration,
            connections=o.connections,
            inserted=len(ids),
            wall=insert_wall,
            insert_errors=inserter.errors,
            max_lag=max_lag,
            latencies=latencies,
            received=received,
            received_late=received - sum(1 for x in latencies if x != math.inf),
            drain_timeout=o.drain_timeout,
            drained_in=drained_at - last_commit,
            relay_lags=relay_lags,
            fanout_lags=fanout_lags,
            cpu=self._usage(before, after),
            postgres_stats={k: pg_after[k] - pg_before.get(k, 0.0) for k in pg_after},
            postgres_waits=waits.averages(),
        )

    async def _wait_for(self, ids: list[str], deadline: float) -> float:
        """Wait until every id arrived or the deadline (time.time()); the last arrival time."""
        arrivals = self._receiver.arrivals
        pending = [i for i in ids if i not in arrivals]
        while pending and time.time() < deadline:
            await asyncio.sleep(0.02)
            pending = [i for i in pending if i not in arrivals]
        if pending:
            return deadline
        return max((arrivals[i] for i in ids), default=time.time())

    def _stages(self, prefix: str, commits: dict[str, float]) -> tuple[list[float], list[float]]:
        """commit -> published_at and commit -> first delivery row, for each measured event."""
        with psycopg.connect(self._platform.database_url) as conn:
            rows = conn.execute(_STAGES, (f"evt_{prefix}%",)).fetchall()
        relay = sorted(p - commits[i] for i, p, _ in rows if p is not None and i in commits)
        fanout = sorted(d - commits[i] for i, _, d in rows if d is not None and i in commits)
        return relay, fanout

    # -- backlog -------------------------------------------------------------------------------

    async def _backlog_phase(self, inserter: Inserter) -> BacklogPhase:
        o = self._options
        await self._until_idle()
        prefix = f"bench{self._run}b"
        ids = event_ids(prefix, 0, o.backlog)
        self._say(f"backlog: {o.backlog:,} events in one transaction ...")
        waits = WaitSampler(self._platform.admin_url, all_queries=True)
        before = self._sample_cpu()
        started = time.time()
        committed = await inserter.insert_all(prefix, o.backlog)
        insert_seconds = time.time() - started
        waits.start()
        try:
            last = await self._wait_for(ids, committed + o.backlog_timeout)
        finally:
            waits.stop()
        after = self._sample_cpu()
        arrivals = self._receiver.arrivals
        received = [arrivals[i] for i in ids if i in arrivals]
        with psycopg.connect(self._platform.database_url) as conn:
            row = conn.execute(
                "SELECT extract(epoch FROM min(published_at))::float8,"
                " extract(epoch FROM max(published_at))::float8,"
                " count(DISTINCT published_at), count(published_at)"
                " FROM events WHERE id LIKE %s",
                (f"evt_{prefix}%",),
            ).fetchone()
        assert row is not None
        first_published, last_published, rounds, published = row
        if published < o.backlog:
            self._say(f"[yellow]only {published:,} of {o.backlog:,} backlog events published[/]")
        return BacklogPhase(
            events=o.backlog,
            insert_seconds=insert_seconds,
            published_in=(last_published or math.nan) - committed,
            relay_batches=int(rounds),
            first_published_in=(first_published or math.nan) - committed,
            received=len(received),
            received_in=(max(received) if received else last) - committed,
            first_received_in=(min(received) if received else math.nan) - committed,
            timeout=o.backlog_timeout,
            cpu=self._usage(before, after),
            postgres_waits=waits.averages(),
        )

    async def _until_idle(self) -> None:
        """Nothing unpublished and nothing pending: the backlog starts from an idle pipeline."""
        deadline = time.monotonic() + _IDLE_TIMEOUT_SECONDS
        async with await psycopg.AsyncConnection.connect(
            self._platform.database_url, autocommit=True
        ) as conn:
            while time.monotonic() < deadline:
                cur = await conn.execute(
                    "SELECT (SELECT count(*) FROM events WHERE published_at IS NULL)"
                    " + (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending')"
                )
                row = await cur.fetchone()
                if row is not None and row[0] == 0:
                    return
                await asyncio.sleep(0.2)
        self._say("[yellow]the pipeline was still busy when the backlog started[/]")
