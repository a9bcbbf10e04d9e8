"""The checkout load: N virtual users, each doing create -> confirm -> capture in a closed loop.

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


class Phase(enum.Enum):
    WARMUP = "warm-up"
    MEASURE = "measure"
    DRAIN = "drain"


@dataclass
class LoadResult:
    users: int
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
        warmup: float,
        duration: float,
        sample_cpu: Callable[[], cpu.Sample],
        sample_postgres: Callable[[], dict[str, float]] | None = None,
        at_start: Sequence[Callable[[], None]] = (),
        at_end: Sequence[Callable[[], None]] = (),
    ) -> None:
        self._make_client = make_client
        self._users = users
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
        tasks = [
            asyncio.create_task(self._user(i, delay=i * ramp / self._users))
            for i in range(self._users)
        ]
        try:
            await asyncio.sleep(self._warmup)
            pg_before = self._sample_postgres() if self._sample_postgres else {}
            before = self._sample_cpu()
            self.phase = Phase.MEASURE
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
            users=self._users,
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

    async def _checkout(self, client: Client, key: str) -> bool:
        phase = self.phase
        started = time.perf_counter()
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
