"""The checkout load: create -> confirm -> capture, driven one of two ways.

Closed loop (`users`): N virtual users, each starting its next checkout when the last one ended;
it finds the throughput the platform can sustain, and its latency is mostly queueing once the
cores are saturated. Open loop (`rate`): checkouts arrive at random (Poisson) times at a fixed
average rate whatever the platform does, each on an idle connection (opened when none is idle);
a checkout's latency counts from its scheduled arrival, so a stalled platform cannot hide its
stall by slowing the arrivals (no coordinated omission). That answers "how fast is a checkout at
N per second".

Only calls (and checkouts) that both start and end inside the measured window are recorded;
warm-up and the drain after the window are driven the same way but not counted.
"""

from __future__ import annotations

import asyncio
import enum
import math
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson

from bench import cpu
from bench.client import Client, HttpError

CALLS = ("create", "confirm", "capture")
CHECKOUT = "checkout"
_ERROR_BACKOFF_SECONDS = 0.05
_MAX_ERROR_EXAMPLES = 5
_DRAIN_TIMEOUT_SECONDS = 30.0
_MAX_RAMP_SECONDS = 2.0
# An open-loop connection idle longer than this is closed rather than reused: the api (uvicorn)
# closes keep-alive connections after 5 s idle, and a request on a connection the server is
# closing fails with no response - the platform's doing nothing wrong, so no error to count.
_MAX_IDLE_SECONDS = 2.0


class Phase(enum.Enum):
    WARMUP = "warm-up"
    MEASURE = "measure"
    DRAIN = "drain"


@dataclass
class LoadResult:
    users: int  # closed loop: the users; open loop: the most checkouts in flight at once
    rate: float | None  # open loop: the offered checkouts per second
    warmup: float
    wall: float  # the measured window, seconds
    latencies: dict[str, list[float]]  # seconds, per call and per checkout
    errors: Counter[str]
    warmup_errors: Counter[str]
    warmup_checkouts: int
    error_examples: list[str]
    cpu: cpu.CpuUsage
    postgres_stats: dict[str, float] = field(default_factory=dict)
    postgres_waits: list[tuple[str, float]] = field(default_factory=list)

    @property
    def checkouts(self) -> int:
        return len(self.latencies[CHECKOUT])

    @property
    def checkouts_per_second(self) -> float:
        return self.checkouts / self.wall if self.wall else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (exact, no interpolation)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


class CheckoutLoad:
    def __init__(
        self,
        make_client: Callable[[], Client],
        *,
        users: int,
        rate: float | None = None,
        warmup: float,
        duration: float,
        sample_cpu: Callable[[], cpu.Sample],
        sample_postgres: Callable[[], dict[str, float]] | None = None,
        at_start: Sequence[Callable[[], None]] = (),
        at_end: Sequence[Callable[[], None]] = (),
    ) -> None:
        self._make_client = make_client
        self._users = users
        self._rate = rate
        self._in_flight = 0
        self._peak_in_flight = 0
        self._warmup = warmup
        self._duration = duration
        self._sample_cpu = sample_cpu
        self._sample_postgres = sample_postgres
        self._at_start = at_start
        self._at_end = at_end
        self._run = uuid.uuid4().hex[:8]
        self.phase = Phase.WARMUP
        self._latencies: dict[str, list[float]] = {name: [] for name in (*CALLS, CHECKOUT)}
        self._errors: dict[Phase, Counter[str]] = {phase: Counter() for phase in Phase}
        self._warmup_checkouts = 0
        self._examples: list[str] = []

    async def run(self) -> LoadResult:
        # Users arrive over a short ramp rather than all at once: a burst of simultaneous
        # connects tends to land on one api worker process, whose accept loop takes them all.
        ramp = min(_MAX_RAMP_SECONDS, self._warmup / 2)
        tasks = (
            [asyncio.create_task(self._arrivals(self._rate))]
            if self._rate
            else [
                asyncio.create_task(self._user(i, delay=i * ramp / self._users))
                for i in range(self._users)
            ]
        )
        try:
            await asyncio.sleep(self._warmup)
            pg_before = self._sample_postgres() if self._sample_postgres else {}
            before = self._sample_cpu()
            self.phase = Phase.MEASURE
            self._peak_in_flight = self._in_flight
            started = time.perf_counter()
            for hook in self._at_start:
                hook()
            await asyncio.sleep(self._duration)
            self.phase = Phase.DRAIN
            wall = time.perf_counter() - started
            for hook in self._at_end:
                hook()
            after = self._sample_cpu()
            pg_after = self._sample_postgres() if self._sample_postgres else {}
            # Users finish the checkout in hand; one that hangs is cancelled below.
            await asyncio.wait(tasks, timeout=_DRAIN_TIMEOUT_SECONDS)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for values in self._latencies.values():
            values.sort()
        return LoadResult(
            users=self._peak_in_flight if self._rate else self._users,
            rate=self._rate,
            warmup=self._warmup,
            wall=wall,
            latencies=self._latencies,
            errors=self._errors[Phase.MEASURE],
            warmup_errors=self._errors[Phase.WARMUP],
            warmup_checkouts=self._warmup_checkouts,
            error_examples=self._examples,
            cpu=cpu.usage(before, after),
            postgres_stats={k: pg_after[k] - pg_before.get(k, 0.0) for k in pg_after},
        )

    async def _user(self, number: int, delay: float) -> None:
        await asyncio.sleep(delay)
        client = self._make_client()
        sequence = 0
        try:
            while self.phase is not Phase.DRAIN:
                sequence += 1
                if not await self._checkout(client, f"bench-{self._run}-{number}-{sequence}"):
                    await asyncio.sleep(_ERROR_BACKOFF_SECONDS)
        finally:
            await client.aclose()

    async def _arrivals(self, rate: float) -> None:
        idle: list[tuple[Client, float]] = []  # (client, idle since), the freshest last
        checkouts: set[asyncio.Task[bool]] = set()
        arrival = time.perf_counter()
        sequence = 0
        try:
            while self.phase is not Phase.DRAIN:
                arrival += random.expovariate(rate)
                await asyncio.sleep(max(0.0, arrival - time.perf_counter()))
                sequence += 1
                key = f"bench-{self._run}-arrival-{sequence}"
                checkout = asyncio.create_task(self._arrival(idle, key, arrival))
                checkouts.add(checkout)
                checkout.add_done_callback(checkouts.discard)
            if checkouts:
                await asyncio.wait(checkouts, timeout=_DRAIN_TIMEOUT_SECONDS)
        finally:
            for checkout in checkouts:
                checkout.cancel()
            await asyncio.gather(*checkouts, return_exceptions=True)
            for client, _ in idle:
                await client.aclose()

    async def _arrival(self, idle: list[tuple[Client, float]], key: str, arrival: float) -> bool:
        client, since = idle.pop() if idle else (self._make_client(), math.inf)
        if time.perf_counter() - since > _MAX_IDLE_SECONDS:
            await client.aclose()  # the next post connects again
        self._in_flight += 1
        self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
        try:
            return await self._checkout(client, key, started=arrival)
        finally:
            self._in_flight -= 1
            idle.append((client, time.perf_counter()))

    async def _checkout(self, client: Client, key: str, started: float | None = None) -> bool:
        phase = self.phase
        started = time.perf_counter() if started is None else started
        amount = random.randint(100, 99_999)
        create = (
            f"amount={amount}&currency=usd&capture_method=manual&payment_method=pm_card_visa"
        ).encode()
        body = await self._call(client, "create", "/v1/payment_intents", create, f"{key}-create")
        if body is None:
            return False
        intent_id = body["id"]
        path = f"/v1/payment_intents/{intent_id}"
        body = await self._call(client, "confirm", f"{path}/confirm", b"", f"{key}-confirm")
        if body is None:
            return False
        if body.get("status") != "requires_capture":
            self._error(phase, "confirm", f"status {body.get('status')}", body)
            return False
        body = await self._call(client, "capture", f"{path}/capture", b"", f"{key}-capture")
        if body is None:
            return False
        if body.get("status") != "succeeded" or body.get("amount_received") != amount:
            self._error(phase, "capture", f"status {body.get('status')}", body)
            return False
        if phase is Phase.MEASURE and self.phase is Phase.MEASURE:
            self._latencies[CHECKOUT].append(time.perf_counter() - started)
        elif phase is Phase.WARMUP:
            self._warmup_checkouts += 1
        return True

    async def _call(
        self, client: Client, name: str, path: str, body: bytes, key: str
    ) -> dict[str, object] | None:
        phase = self.phase
        started = time.perf_counter()
        try:
            status, raw = await client.post(path, body, key)
        except HttpError as exc:
            self._error(phase, name, str(exc)[:80], None)
            return None
        elapsed = time.perf_counter() - started
        if status != 200:
            self._error(phase, name, f"HTTP {status}", raw)
            return None
        if phase is Phase.MEASURE and self.phase is Phase.MEASURE:
            self._latencies[name].append(elapsed)
        try:
            decoded = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self._error(phase, name, "invalid JSON", raw)
            return None
        assert isinstance(decoded, dict)
        return decoded

    def _error(self, phase: Phase, call: str, what: str, body: object) -> None:
        code = ""
        if isinstance(body, bytes):
            try:
                error = orjson.loads(body).get("error") or {}
                code = f" {error.get('code') or error.get('type') or ''}".rstrip()
            except (orjson.JSONDecodeError, AttributeError):
                pass
        key = f"{call}: {what}{code}"
        self._errors[phase][key] += 1
        if len(self._examples) < _MAX_ERROR_EXAMPLES and phase is not Phase.DRAIN:
            shown = body[:300] if isinstance(body, bytes) else orjson.dumps(body)[:300]
            self._examples.append(f"[{phase.value}] {key}: {shown!r}")
