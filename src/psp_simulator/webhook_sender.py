"""Background delivery: webhook events from the outbox table, and the changes that fall due.

Both run as tasks of the app's lifespan. Delivery is at least once: an event counts as delivered
only once the receiver has answered 2xx (or the drop fault has lost it on purpose), and failures are
retried forever with exponential backoff. The state lives in sqlite, so a restart resumes.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

import httpx

from psp_simulator.store import Store, Transaction
from psp_simulator.webhook_rows import PendingEvent
from psp_simulator.webhooks import WebhookControl, WebhookFaults

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.05
SEND_TIMEOUT_SECONDS = 5.0
CONCURRENT_SENDS = 8
FIRST_RETRY_SECONDS = 0.2
MAX_RETRY_SECONDS = 30.0
REORDER_BATCH = 10
REORDER_HOLD_SECONDS = 0.5
SETTLE_EVERY_SECONDS = 0.2


class WebhookSender:
    def __init__(self, store: Store, control: WebhookControl) -> None:
        self._store = store
        self._control = control
        # Made on first use: most embedded apps (tests) never deliver anything.
        self._client: httpx.AsyncClient | None = None

    async def run(self) -> None:
        try:
            while True:
                try:
                    busy = await self._deliver_batch()
                except Exception:
                    logger.exception("webhook delivery round failed")
                    busy = False
                if not busy:
                    await asyncio.sleep(POLL_SECONDS)
        finally:
            if self._client is not None:
                await self._client.aclose()

    async def _deliver_batch(self) -> bool:
        """Send the oldest due events, concurrently; whether there were any."""
        faults = self._control.faults
        if self._control.url is None:
            return False
        if faults.reorder:
            # Let events pile up, then release them out of order.
            await asyncio.sleep(REORDER_HOLD_SECONDS)
        limit = REORDER_BATCH if faults.reorder else CONCURRENT_SENDS
        events = self._store.transact(lambda tx: tx.events.due(time.time(), limit))
        if not events:
            return False
        if faults.reorder:
            random.shuffle(events)
        await asyncio.gather(*(self._deliver(event, faults) for event in events))
        return True

    async def _deliver(self, event: PendingEvent, faults: WebhookFaults) -> None:
        if random.random() < faults.drop_rate:  # noqa: S311 - fault injection, not security
            logger.info("webhook %s dropped by fault injection", event.id)
            self._store.transact(lambda tx: tx.events.dropped(event.id, time.time()))
            return
        if faults.delay_ms:
            await asyncio.sleep(faults.delay_ms / 1000)
        if not await self._send(event):
            # 0.2 s, 0.4 s, 0.8 s... capped; the exponent is bounded so the float cannot overflow.
            backoff = min(FIRST_RETRY_SECONDS * 2 ** min(event.attempts, 16), MAX_RETRY_SECONDS)
            self._store.transact(lambda tx: tx.events.failed(event.id, time.time() + backoff))
            return
        duplicates = 0
        if random.random() < faults.duplicate_rate:  # noqa: S311 - fault injection
            await self._send(event)
            duplicates = 1
        self._store.transact(lambda tx: tx.events.delivered(event.id, time.time(), duplicates))

    async def _send(self, event: PendingEvent) -> bool:
        url = self._control.url
        if url is None:
            return False
        if self._client is None:
            self._client = httpx.AsyncClient()
        try:
            response = await self._client.post(
                url,
                content=event.payload,
                headers=self._control.headers(event.id, event.payload),
                timeout=SEND_TIMEOUT_SECONDS,
            )
        except httpx.HTTPError as exc:
            logger.info("webhook %s to %s failed: %r", event.id, url, exc)
            return False
        if not response.is_success:
            logger.info("webhook %s to %s answered %d", event.id, url, response.status_code)
        return response.is_success


async def settle_due_continuously(store: Store) -> None:
    """Settle pending refunds and authorizations and expire unanswered ones even when nobody
    reads them, so their events go out on time.
    """
    while True:
        await asyncio.sleep(SETTLE_EVERY_SECONDS)
        try:
            store.transact(_settle_due)
        except Exception:
            logger.exception("settling due changes failed")


def _settle_due(tx: Transaction) -> None:
    now = time.time()
    tx.settle_due_authorizations(now)
    tx.refunds.settle_due(now)
