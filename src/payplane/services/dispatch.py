"""Merchant webhooks: fan events out to endpoints, then deliver them at least once.

Fan-out reads the published event stream; for each event it inserts a pending delivery per
matching endpoint (unique per event and endpoint, so redelivered messages add nothing), commits,
and only then acknowledges. Delivery claims due deliveries under a lease, sends them
concurrently with a cap per endpoint (a slow or dead endpoint holds only its own slots), records
every attempt, and retries with exponential backoff and jitter until the retry window closes.
An endpoint whose delivery fails for good with no success since is disabled, with an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from payplane.domain.ids import new_id
from payplane.services.ports import RequestContext, UnitOfWork, UnitOfWorkFactory
from payplane.services.webhook_ports import (
    DueDelivery,
    EventFeed,
    Outcome,
    SendResult,
    WebhookSender,
)

log = structlog.get_logger()
_jitter = random.SystemRandom()

DISABLED_EVENT = "webhook_endpoint.disabled"
LEASE_MARGIN_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    timeout_seconds: float = 10.0
    concurrency: int = 32
    per_endpoint: int = 4
    backoff_base_seconds: float = 5.0
    backoff_max_seconds: float = 6 * 3600.0
    retry_window_seconds: float = 3 * 24 * 3600.0
    poll_seconds: float = 0.5

    def backoff(self, attempts: int) -> float:
        """Delay after the attempts-th failed attempt: exponential, capped, with jitter."""
        exponent = min(attempts - 1, 32)
        delay: float = min(self.backoff_base_seconds * 2.0**exponent, self.backoff_max_seconds)
        return delay * _jitter.uniform(0.5, 1.0)


class WebhookDispatcher:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        sender: WebhookSender,
        policy: DeliveryPolicy,
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._uow = uow
        self._sender = sender
        self.policy = policy
        self._now = now
        self._wake = asyncio.Event()
        self._in_flight: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._finished: list[tuple[DueDelivery, SendResult]] = []
        self._recorder: asyncio.Task[None] | None = None

    # --- fan-out -------------------------------------------------------------------------------

    async def fan_out(self, feed: EventFeed, *, batch: int = 256, wait_seconds: float = 2.0) -> int:
        """One round: fetch published events, create their deliveries, then acknowledge them.
        Returns how many messages were handled (0: none arrived within `wait_seconds`)."""
        messages = await feed.fetch(batch, wait_seconds)
        if not messages:
            return 0
        try:
            async with self._uow() as uow:
                created = await uow.webhooks.fan_out([m.event_id for m in messages])
                await uow.commit()
        except BaseException:
            # Hand them back now rather than after the ack wait; the insert is idempotent.
            await asyncio.gather(*(m.nak() for m in messages), return_exceptions=True)
            raise
        for message in messages:
            await message.ack()
        if created:
            self._wake.set()
        return len(messages)

    # --- delivery ------------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def deliver_forever(self) -> None:
        """Keep up to `concurrency` deliveries in flight until cancelled."""
        try:
            while True:
                claimed = 0
                try:
                    claimed = await self.claim_and_start()
                except Exception:
                    log.exception("claiming webhook deliveries failed")
                if claimed and len(self._tasks) < self.policy.concurrency:
                    continue  # there may be more due right now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.policy.poll_seconds)
                self._wake.clear()
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if self._recorder is not None:  # what was sent is recorded, not sent again
                await asyncio.gather(self._recorder, return_exceptions=True)

    async def claim_and_start(self) -> int:
        """Claim what fits into the free slots and start sending it; returns how many."""
        free = self.policy.concurrency - len(self._tasks)
        if free <= 0:
            return 0
        room = {e: self.policy.per_endpoint - n for e, n in self._in_flight.items() if n > 0}
        async with self._uow() as uow:
            due = await uow.webhooks.claim_due(
                limit=free,
                lease_seconds=self.policy.timeout_seconds + LEASE_MARGIN_SECONDS,
                room=room,
                per_endpoint=self.policy.per_endpoint,
            )
            await uow.commit()
        for delivery in due:
            self._in_flight[delivery.endpoint_id] += 1
            task = asyncio.create_task(self._deliver_one(delivery))
            self._tasks.add(task)
        return len(due)

    async def aclose(self) -> None:
        await self._sender.aclose()

    async def drain(self) -> None:
        """Wait for every delivery started so far to be sent and recorded (tests, shutdown)."""
        while self._tasks or (self._recorder is not None and not self._recorder.done()):
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
            if self._recorder is not None:
                await asyncio.gather(self._recorder, return_exceptions=True)

    async def _deliver_one(self, delivery: DueDelivery) -> None:
        try:
            result = await self._sender.send(delivery.url, delivery.secret, delivery.body)
            self._finished.append((delivery, result))
            if self._recorder is None or self._recorder.done():
                self._recorder = asyncio.create_task(self._record_finished())
        finally:
            self._in_flight[delivery.endpoint_id] -= 1
            if self._in_flight[delivery.endpoint_id] <= 0:
                del self._in_flight[delivery.endpoint_id]
            task = asyncio.current_task()
            if task is not None:
                self._tasks.discard(task)
            self._wake.set()

    async def _record_finished(self) -> None:
        # One transaction for whatever finished while the previous one was being written: a
        # single delivery when idle, large batches under load.
        while self._finished:
            batch, self._finished = self._finished, []
            try:
                await self.record(batch)
            except Exception:
                # Left pending under their leases: they are sent again when the leases run out.
                log.exception("recording webhook attempts failed", count=len(batch))

    async def record(self, finished: list[tuple[DueDelivery, SendResult]]) -> None:
        """Store the attempts and what follows from each: done, retry later (exponential
        backoff with jitter), or failed for good once the retry window has closed."""
        now = self._now()
        outcomes = []
        for delivery, result in finished:
            retry_in = None
            if not result.succeeded:
                delay = self.policy.backoff(delivery.attempts + 1)
                if now + delay <= delivery.created_at + self.policy.retry_window_seconds:
                    retry_in = delay
            outcomes.append(Outcome(delivery.id, result, retry_in))
        sent = {delivery.id: (delivery, result) for delivery, result in finished}
        async with self._uow() as uow:
            for delivery_id in await uow.webhooks.record(outcomes):
                await self._disable_if_dead(uow, *sent[delivery_id])
            await uow.commit()

    async def _disable_if_dead(
        self, uow: UnitOfWork, delivery: DueDelivery, result: SendResult
    ) -> None:
        """A delivery failed for good: with no success since it was created, the endpoint is
        disabled (no new deliveries, pending ones stop) and an event says so."""
        if await uow.webhooks.succeeded_since(delivery.endpoint_id, delivery.created_at):
            return
        last = result.error or f"HTTP {result.status_code}"
        endpoint = await uow.webhooks.disable_endpoint(
            delivery.endpoint_id,
            f"No delivery succeeded for {self.policy.retry_window_seconds:g} s (last: {last})",
        )
        if endpoint is not None:
            ctx = RequestContext(delivery.merchant_id, "system:webhooks", new_id("req"))
            await uow.outbox.append(ctx, DISABLED_EVENT, endpoint, payment_intent_id=None)
            log.warning("webhook endpoint disabled", endpoint=delivery.endpoint_id)
