"""Merchant webhook fan-out and delivery on a real PostgreSQL, sent to a local HTTP receiver:
idempotent fan-out, matching rules, claims under a lease, backoff, failure, disabling, resend."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
import stripe
from pg_support import app_pool, new_merchant
from tests.merchant_receiver import Receiver, running_receiver

from payplane.adapters.db.uow import PgUnitOfWork, PgUnitOfWorkFactory
from payplane.adapters.webhook_sender import HttpWebhookSender
from payplane.domain.errors import InvalidRequest, ResourceMissing
from payplane.domain.ids import new_id
from payplane.services.dispatch import DeliveryPolicy, WebhookDispatcher
from payplane.services.ports import ListQuery, RequestContext
from payplane.services.webhook_ports import EndpointChanges, FeedMessage


@pytest.fixture(autouse=True)
def _no_foreign_due_deliveries(owner: psycopg.Connection) -> Iterator[None]:
    """Claims are global: park what other tests left pending so they cannot be claimed here."""
    park = "UPDATE webhook_deliveries SET status = 'failed' WHERE status = 'pending'"
    owner.execute(park)
    yield
    owner.execute(park)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@dataclass
class FakeMessage:
    event_id: str
    acked: list[str] = field(default_factory=list)

    async def ack(self) -> None:
        self.acked.append("ack")

    async def nak(self) -> None:
        self.acked.append("nak")


@dataclass
class FakeFeed:
    batches: list[list[FakeMessage]]

    async def fetch(self, _batch: int, _wait_seconds: float) -> list[FeedMessage]:
        return list(self.batches.pop(0)) if self.batches else []


def ctx(merchant: str) -> RequestContext:
    return RequestContext(merchant, "test", new_id("req"))


async def add_endpoint(
    uow: PgUnitOfWork, merchant: str, url: str, events: list[str], *, created: int | None = None
) -> str:
    endpoint_id = new_id("we")
    await uow.webhooks.add_endpoint(
        {
            "id": endpoint_id,
            "merchant_id": merchant,
            "url": url,
            "enabled_events": events,
            "description": None,
            "metadata": {},
            "secret": new_id("whsec", 32),
            "api_version": "2024-06-20",
            "created": int(time.time()) - 5 if created is None else created,
        }
    )
    return endpoint_id


async def add_event(uow: PgUnitOfWork, merchant: str, event_type: str) -> str:
    data = {"id": new_id("pi"), "object": "payment_intent", "amount": 1000}
    await uow.outbox.append(ctx(merchant), event_type, data, payment_intent_id=data["id"])
    page = await uow.outbox.list(merchant, ListQuery(limit=1))
    event_id: str = page.data[0]["id"]
    return event_id


def deliveries(owner: psycopg.Connection, endpoint_id: str) -> list[dict[str, Any]]:
    cur = owner.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute(
        "SELECT d.*, (SELECT count(*) FROM webhook_delivery_attempts a WHERE a.delivery_id = d.id)"
        " AS attempt_rows FROM webhook_deliveries d WHERE endpoint_id = %s ORDER BY id",
        (endpoint_id,),
    ).fetchall()


def dispatcher(pool: Any, **policy: Any) -> WebhookDispatcher:
    timeout = policy.get("timeout_seconds", 2.0)
    sender = HttpWebhookSender(timeout_seconds=timeout, max_connections=8)
    defaults: dict[str, Any] = {"timeout_seconds": 2.0, "backoff_base_seconds": 1.0}
    return WebhookDispatcher(PgUnitOfWorkFactory(pool), sender, DeliveryPolicy(**defaults | policy))


def test_fan_out_is_idempotent_and_follows_the_matching_rules(
    database_url: str, owner: psycopg.Connection
) -> None:
    merchant, other = new_merchant(database_url), new_merchant(database_url)

    async def main() -> None:
        async with app_pool(database_url) as pool:
            factory = PgUnitOfWorkFactory(pool)
            async with factory() as uow:
                every = await add_endpoint(uow, merchant, "http://x/every", ["*"])
                succeeded = await add_endpoint(
                    uow, merchant, "http://x/s", ["payment_intent.succeeded"]
                )
                refunds = await add_endpoint(uow, merchant, "http://x/r", ["refund.created"])
                disabled = await add_endpoint(uow, merchant, "http://x/d", ["*"])
                deleted = await add_endpoint(uow, merchant, "http://x/del", ["*"])
                later = await add_endpoint(uow, merchant, "http://x/l", ["*"], created=2**40)
                foreign = await add_endpoint(uow, other, "http://x/o", ["*"])
                off = EndpointChanges(disabled=True)
                await uow.webhooks.update_endpoint(merchant, disabled, off)
                await uow.webhooks.delete_endpoint(merchant, deleted)
                first = await add_event(uow, merchant, "payment_intent.succeeded")
                second = await add_event(uow, merchant, "charge.succeeded")
                await uow.commit()
            one, two = FakeMessage(first), FakeMessage(second)
            again = FakeMessage(first)  # redelivered: the dispatcher died before its ack
            feed = FakeFeed([[one, two], [again]])
            dispatch = dispatcher(pool)
            assert await dispatch.fan_out(feed) == 2
            assert await dispatch.fan_out(feed) == 1
            assert await dispatch.fan_out(feed) == 0
            assert one.acked == two.acked == again.acked == ["ack"]
            await dispatch.aclose()
            endpoints = [every, succeeded, refunds, disabled, deleted, later, foreign]
            got = {e: [d["event_id"] for d in deliveries(owner, e)] for e in endpoints}
            assert sorted(got[every]) == sorted([first, second])
            assert got[succeeded] == [first]
            assert got[refunds] == got[disabled] == got[deleted] == []
            assert got[later] == got[foreign] == []

    asyncio.run(main())


def test_a_failed_fan_out_hands_the_messages_back(database_url: str) -> None:
    async def main() -> None:
        async with app_pool(database_url) as pool:
            message = FakeMessage("evt_" + "x" * 24)
            dispatch = dispatcher(pool)
            dispatch._uow = _broken_uow  # type: ignore[assignment]
            with pytest.raises(RuntimeError):
                await dispatch.fan_out(FakeFeed([[message]]))
            assert message.acked == ["nak"]
            await dispatch.aclose()

    asyncio.run(main())


def _broken_uow() -> Any:
    raise RuntimeError("database down")


def test_delivery_is_signed_recorded_and_claimed_once(
    database_url: str, owner: psycopg.Connection, receiver: Receiver
) -> None:
    merchant = new_merchant(database_url)

    async def main() -> None:
        async with app_pool(database_url, size=4) as pool:
            factory = PgUnitOfWorkFactory(pool)
            async with factory() as uow:
                endpoint = await add_endpoint(uow, merchant, receiver.url("/ok"), ["*"])
                event = await add_event(uow, merchant, "payment_intent.succeeded")
                await uow.webhooks.fan_out([event])
                await uow.commit()
            secret = _secret(owner, endpoint)
            dispatch = dispatcher(pool)
            assert await dispatch.claim_and_start() == 1
            # Leased: nobody else (another dispatcher, this one's next round) claims it now.
            async with factory() as uow:
                assert (
                    await uow.webhooks.claim_due(limit=10, lease_seconds=5, room={}, per_endpoint=4)
                    == []
                )
            await dispatch.drain()
            await dispatch.aclose()
            (request,) = receiver.requests("/ok")
            verified = stripe.Webhook.construct_event(
                request.body, request.headers["Stripe-Signature"], secret
            )
            assert verified.id == event
            assert verified.type == "payment_intent.succeeded"
            assert request.headers["Content-Type"].startswith("application/json")
            assert request.headers["User-Agent"] == "Payplane/1.0"
            (row,) = deliveries(owner, endpoint)
            assert (row["status"], row["attempts"], row["attempt_rows"]) == ("succeeded", 1, 1)
            async with factory() as uow:
                page = await uow.webhooks.deliveries(merchant, endpoint, ListQuery())
            (listed,) = page.data
            assert listed["object"] == "webhook_delivery"
            assert listed["event"] == event
            assert listed["status"] == "succeeded"
            (attempt,) = listed["attempts"]
            assert attempt["status_code"] == 200
            assert attempt["succeeded"] is True
            assert attempt["latency_ms"] >= 0

    asyncio.run(main())


def _secret(owner: psycopg.Connection, endpoint: str) -> str:
    query = "SELECT secret FROM webhook_endpoints WHERE id = %s"
    row = owner.execute(query, (endpoint,)).fetchone()
    assert row is not None
    return str(row[0])


def test_failures_back_off_then_fail_and_disable_the_endpoint(
    database_url: str, owner: psycopg.Connection, receiver: Receiver
) -> None:
    merchant = new_merchant(database_url)
    dead = receiver.behave("/dead", status=500)

    async def main() -> None:
        async with app_pool(database_url, size=4) as pool:
            factory = PgUnitOfWorkFactory(pool)
            async with factory() as uow:
                endpoint = await add_endpoint(uow, merchant, dead, ["*"])
                watcher = await add_endpoint(
                    uow, merchant, receiver.url("/watcher"), ["webhook_endpoint.disabled"]
                )
                event = await add_event(uow, merchant, "charge.succeeded")
                await uow.webhooks.fan_out([event])
                await uow.commit()
            dispatch = dispatcher(pool, backoff_base_seconds=10.0, retry_window_seconds=3600)
            before = time.time()
            await dispatch.claim_and_start()
            await dispatch.drain()
            (row,) = deliveries(owner, endpoint)
            assert (row["status"], row["attempts"], row["attempt_rows"]) == ("pending", 1, 1)
            wait = row["next_attempt_at"].timestamp() - before
            assert 4.5 <= wait <= 11, wait  # base 10 s, jittered into [5, 10]
            # Not due yet: nothing to claim.
            assert await dispatch.claim_and_start() == 0
            # The retry window closes before the next attempt would be due: failed for good.
            owner.execute(
                "UPDATE webhook_deliveries SET next_attempt_at = now(), "
                "created_at = now() - interval '2 hours' WHERE endpoint_id = %s",
                (endpoint,),
            )
            await dispatch.claim_and_start()
            await dispatch.drain()
            (row,) = deliveries(owner, endpoint)
            assert (row["status"], row["attempts"], row["attempt_rows"]) == ("failed", 2, 2)
            status = owner.execute(
                "SELECT status, disabled_reason FROM webhook_endpoints WHERE id = %s", (endpoint,)
            ).fetchone()
            assert status is not None
            assert status[0] == "disabled"
            assert "HTTP 500" in status[1]
            cur = owner.cursor(row_factory=psycopg.rows.dict_row)
            (disabled_event,) = cur.execute(
                "SELECT * FROM events WHERE merchant_id = %s AND type = "
                "'webhook_endpoint.disabled'",
                (merchant,),
            ).fetchall()
            assert disabled_event["object_id"] == endpoint
            assert disabled_event["payment_intent_id"] is None
            assert disabled_event["data"]["status"] == "disabled"
            assert "secret" not in disabled_event["data"]
            # Other endpoints hear about it; the disabled one gets nothing new.
            async with factory() as uow:
                await uow.webhooks.fan_out([disabled_event["id"]])
                later = await add_event(uow, merchant, "charge.succeeded")
                await uow.webhooks.fan_out([later])
                await uow.commit()
            assert [d["event_id"] for d in deliveries(owner, watcher)] == [disabled_event["id"]]
            assert len(deliveries(owner, endpoint)) == 1
            await dispatch.aclose()

    asyncio.run(main())


def test_a_failure_after_a_recent_success_does_not_disable(
    database_url: str, owner: psycopg.Connection, receiver: Receiver
) -> None:
    merchant = new_merchant(database_url)
    flaky = receiver.behave("/flaky", status=200)

    async def main() -> None:
        async with app_pool(database_url, size=4) as pool:
            factory = PgUnitOfWorkFactory(pool)
            async with factory() as uow:
                endpoint = await add_endpoint(uow, merchant, flaky, ["*"])
                first = await add_event(uow, merchant, "charge.succeeded")
                await uow.webhooks.fan_out([first])
                await uow.commit()
            dispatch = dispatcher(pool, retry_window_seconds=0.001)
            await dispatch.claim_and_start()
            await dispatch.drain()
            receiver.behave("/flaky", status=503)
            async with factory() as uow:
                second = await add_event(uow, merchant, "charge.succeeded")
                await uow.webhooks.fan_out([second])
                await uow.commit()
            owner.execute(
                "UPDATE webhook_deliveries SET created_at = now() - interval '1 second' "
                "WHERE event_id = %s",
                (second,),
            )
            await dispatch.claim_and_start()
            await dispatch.drain()
            await dispatch.aclose()
            statuses = {d["event_id"]: d["status"] for d in deliveries(owner, endpoint)}
            assert statuses == {first: "succeeded", second: "failed"}
            row = owner.execute(
                "SELECT status FROM webhook_endpoints WHERE id = %s", (endpoint,)
            ).fetchone()
            assert row == ("enabled",)

    asyncio.run(main())


def test_resend_schedules_the_event_again(database_url: str, receiver: Receiver) -> None:
    merchant, other = new_merchant(database_url), new_merchant(database_url)

    async def main() -> None:
        async with app_pool(database_url, size=4) as pool:
            factory = PgUnitOfWorkFactory(pool)
            async with factory() as uow:
                endpoint = await add_endpoint(uow, merchant, receiver.url("/resend"), ["*"])
                event = await add_event(uow, merchant, "charge.succeeded")
                foreign_event = await add_event(uow, other, "charge.succeeded")
                await uow.webhooks.fan_out([event])
                await uow.commit()
            dispatch = dispatcher(pool)
            await dispatch.claim_and_start()
            await dispatch.drain()
            async with factory() as uow:
                delivery = await uow.webhooks.resend(merchant, endpoint, event)
                await uow.commit()
            assert delivery["status"] == "pending"
            assert delivery["attempt_count"] == 0
            assert len(delivery["attempts"]) == 1  # the history stays
            await dispatch.claim_and_start()
            await dispatch.drain()
            assert [r.event["id"] for r in receiver.requests("/resend")] == [event, event]
            async with factory() as uow:
                with pytest.raises(ResourceMissing) as missing:
                    await uow.webhooks.resend(merchant, endpoint, foreign_event)
                assert missing.value.param == "event"
                with pytest.raises(ResourceMissing):
                    await uow.webhooks.resend(other, endpoint, foreign_event)
                off = EndpointChanges(disabled=True)
                await uow.webhooks.update_endpoint(merchant, endpoint, off)
                with pytest.raises(InvalidRequest):
                    await uow.webhooks.resend(merchant, endpoint, event)
            await dispatch.aclose()

    asyncio.run(main())


def test_a_slow_endpoint_holds_only_its_own_slots(database_url: str, receiver: Receiver) -> None:
    merchant = new_merchant(database_url)
    slow = receiver.behave("/slow", delay=1.5)
    fast = receiver.url("/fast")

    async def main() -> None:
        async with app_pool(database_url, size=6) as pool:
            factory = PgUnitOfWorkFactory(pool)
            async with factory() as uow:
                await add_endpoint(uow, merchant, slow, ["charge.succeeded"])
                await add_endpoint(uow, merchant, fast, ["charge.captured"])
                slow_events = [await add_event(uow, merchant, "charge.succeeded") for _ in range(8)]
                await uow.webhooks.fan_out(slow_events)
                await uow.commit()
            dispatch = dispatcher(pool, concurrency=4, per_endpoint=2, timeout_seconds=5.0)
            loop = asyncio.create_task(dispatch.deliver_forever())
            await asyncio.to_thread(receiver.wait_for, lambda r: len(r) >= 2, 5)
            async with factory() as uow:
                fast_event = await add_event(uow, merchant, "charge.captured")
                await uow.webhooks.fan_out([fast_event])
                await uow.commit()
            started = time.monotonic()
            dispatch.wake()
            await asyncio.to_thread(
                receiver.wait_for, lambda r: any(x.path == "/fast" for x in r), 5
            )
            assert time.monotonic() - started < 0.5
            # Never more than 2 requests to the slow endpoint at once.
            assert len(receiver.requests("/slow")) == 2
            loop.cancel()
            await asyncio.gather(loop, return_exceptions=True)
            await dispatch.aclose()

    asyncio.run(main())
