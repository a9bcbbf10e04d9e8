"""PgPaymentIntents and PgAttempts on a real PostgreSQL: round trips, tenant isolation,
Stripe list pagination, and the resolver's claim on due attempts."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import psycopg
import pytest
from pg_support import app_connect, app_session, insert_attempt, insert_intent, run

from payplane.adapters.db.attempts import PgAttempts
from payplane.adapters.db.intents import PgPaymentIntents
from payplane.domain.attempt import Attempt, AttemptKind, AttemptStatus
from payplane.domain.errors import ResourceMissing
from payplane.domain.ids import new_id
from payplane.domain.payment_intent import CaptureMethod, PaymentError, PaymentIntent, Status
from payplane.services.ports import ListQuery, Page

BASE_CREATED = 1_750_000_000


def make_intent(merchant_id: str, **fields: Any) -> PaymentIntent:
    values: dict[str, Any] = {
        "id": new_id("pi"),
        "merchant_id": merchant_id,
        "amount": 1000,
        "currency": "usd",
        "status": Status.REQUIRES_PAYMENT_METHOD,
        "capture_method": CaptureMethod.AUTOMATIC,
        "created": BASE_CREATED,
    }
    values.update(fields)
    return PaymentIntent(**values)


async def add_all(database_url: str, intents: list[PaymentIntent]) -> None:
    async with app_session(database_url) as conn:
        repo = PgPaymentIntents(conn)
        for intent in intents:
            await repo.add(intent)
        await conn.commit()


async def get(database_url: str, merchant_id: str | None, intent_id: str) -> PaymentIntent:
    async with app_session(database_url) as conn:
        return await PgPaymentIntents(conn).get(merchant_id, intent_id)


async def list_page(database_url: str, merchant_id: str, query: ListQuery) -> Page:
    async with app_session(database_url) as conn:
        return await PgPaymentIntents(conn).list(merchant_id, query)


# PaymentIntents --------------------------------------------------------------------------------


def test_intent_round_trips_every_field(database_url: str, merchant: str) -> None:
    intent = make_intent(
        merchant,
        amount=4242,
        currency="eur",
        status=Status.REQUIRES_CONFIRMATION,
        capture_method=CaptureMethod.MANUAL,
        created=1_700_000_123,
        payment_method="pm_card_visa",
        customer="cus_123",
        description="Order #1 — ünïcödé, 'quotes' and \"double\"",
        metadata={"order_id": "1", "note": "ü ✓", "empty_looking": " "},
        last_payment_error=PaymentError(
            type="card_error",
            code="card_declined",
            message="Your card was declined.",
            decline_code="insufficient_funds",
            payment_method="pm_card_chargeDeclined",
        ),
        amount_capturable=0,
        amount_received=0,
        latest_charge="ch_first",
        livemode=False,
    )
    run(add_all(database_url, [intent]))
    loaded = run(get(database_url, merchant, intent.id))
    assert loaded == intent
    assert loaded.as_stripe_object() == intent.as_stripe_object()

    changed = dataclasses.replace(
        intent,
        status=Status.CANCELED,
        payment_method=None,
        customer="cus_456",
        description=None,
        metadata={"order_id": "2"},
        last_payment_error=PaymentError(
            type="api_error", code="processing_error", message="Try again."
        ),
        amount_capturable=0,
        amount_received=0,
        latest_charge="ch_second",
        canceled_at=1_700_000_999,
        cancellation_reason="requested_by_customer",
        livemode=True,
    )

    async def save(value: PaymentIntent) -> None:
        async with app_session(database_url) as conn:
            repo = PgPaymentIntents(conn)
            assert (await repo.get(merchant, intent.id, lock=True)).id == intent.id
            await repo.save(value)
            await conn.commit()

    run(save(changed))
    assert run(get(database_url, merchant, intent.id)) == changed

    # Amounts held and received, and the error cleared.
    captured = dataclasses.replace(
        changed,
        status=Status.SUCCEEDED,
        last_payment_error=None,
        canceled_at=None,
        cancellation_reason=None,
        amount_received=4242,
        metadata={},
    )
    run(save(captured))
    assert run(get(database_url, merchant, intent.id)) == captured


def test_save_never_changes_owner_or_creation_time(
    database_url: str, merchant: str, other_merchant: str
) -> None:
    intent = make_intent(merchant)
    run(add_all(database_url, [intent]))

    async def save() -> None:
        async with app_session(database_url) as conn:
            await PgPaymentIntents(conn).save(
                dataclasses.replace(intent, merchant_id=other_merchant, created=1, amount=5)
            )
            await conn.commit()

    run(save())
    loaded = run(get(database_url, merchant, intent.id))
    assert (loaded.merchant_id, loaded.created, loaded.amount) == (merchant, BASE_CREATED, 5)


def test_intent_of_another_merchant_is_missing(
    database_url: str, merchant: str, other_merchant: str
) -> None:
    intent = make_intent(merchant)
    run(add_all(database_url, [intent]))
    with pytest.raises(ResourceMissing) as caught:
        run(get(database_url, other_merchant, intent.id))
    assert caught.value.code == "resource_missing"
    assert caught.value.message == f"No such payment_intent: '{intent.id}'"
    with pytest.raises(ResourceMissing):
        run(get(database_url, merchant, new_id("pi")))
    # The operator's view (no merchant) sees across merchants.
    assert run(get(database_url, None, intent.id)) == intent


@pytest.fixture
def listed(database_url: str, merchant: str, other_merchant: str) -> list[PaymentIntent]:
    """25 intents of `merchant` interleaved with 10 of `other_merchant`; newest first."""
    mine: list[PaymentIntent] = []
    rows: list[PaymentIntent] = []
    for i in range(25):
        intent = make_intent(
            merchant,
            created=BASE_CREATED + i,
            customer="cus_A" if i % 3 == 0 else "cus_B",
        )
        mine.append(intent)
        rows.append(intent)
        if i % 5 in (1, 3):  # the other merchant's rows sit between ours in seq order
            rows.append(make_intent(other_merchant, created=BASE_CREATED + i, customer="cus_A"))
    run(add_all(database_url, rows))
    return list(reversed(mine))


def ids(page: Page) -> list[str]:
    return [obj["id"] for obj in page.data]


def test_list_pages_forward_then_back(
    database_url: str, merchant: str, listed: list[PaymentIntent]
) -> None:
    expected = [intent.id for intent in listed]
    seen: list[str] = []
    has_more: list[bool] = []
    cursor: str | None = None
    while True:
        page = run(list_page(database_url, merchant, ListQuery(limit=10, starting_after=cursor)))
        assert all(obj["object"] == "payment_intent" for obj in page.data)
        seen += ids(page)
        has_more.append(page.has_more)
        if not page.has_more:
            break
        cursor = page.data[-1]["id"]
    assert seen == expected  # 25 distinct ids, newest first, none of the other merchant's
    assert has_more == [True, True, False]
    assert len(set(seen)) == 25

    # ending_before walks back towards the newest, each page still newest first.
    back: list[list[str]] = []
    cursor = expected[-1]
    while True:
        page = run(list_page(database_url, merchant, ListQuery(limit=10, ending_before=cursor)))
        back.append(ids(page))
        if not page.has_more:
            break
        cursor = page.data[0]["id"]
    assert back == [expected[14:24], expected[4:14], expected[0:4]]

    full = run(list_page(database_url, merchant, ListQuery(limit=100)))
    assert (ids(full), full.has_more) == (expected, False)
    exact = run(list_page(database_url, merchant, ListQuery(limit=25)))
    assert (ids(exact), exact.has_more) == (expected, False)


def test_list_filters_by_created_and_customer(
    database_url: str, merchant: str, listed: list[PaymentIntent]
) -> None:
    by_created = {intent.created: intent.id for intent in listed}
    window = run(
        list_page(
            database_url,
            merchant,
            ListQuery(created={"gte": BASE_CREATED + 5, "lte": BASE_CREATED + 9}),
        )
    )
    assert ids(window) == [by_created[BASE_CREATED + i] for i in range(9, 4, -1)]
    assert window.has_more is False
    strict = run(
        list_page(
            database_url,
            merchant,
            ListQuery(created={"gt": BASE_CREATED + 5, "lt": BASE_CREATED + 9}),
        )
    )
    assert ids(strict) == [by_created[BASE_CREATED + i] for i in range(8, 5, -1)]
    paged = run(
        list_page(
            database_url,
            merchant,
            ListQuery(
                limit=2,
                starting_after=by_created[BASE_CREATED + 8],
                created={"gte": BASE_CREATED + 5},
            ),
        )
    )
    assert (ids(paged), paged.has_more) == (
        [by_created[BASE_CREATED + 7], by_created[BASE_CREATED + 6]],
        True,
    )

    customer_a = run(
        list_page(database_url, merchant, ListQuery(limit=100, filters={"customer": "cus_A"}))
    )
    assert ids(customer_a) == [i.id for i in listed if i.customer == "cus_A"]
    assert len(customer_a.data) == 9
    assert all(obj["customer"] == "cus_A" for obj in customer_a.data)


def test_list_cursor_of_another_merchant_is_missing(
    database_url: str, merchant: str, other_merchant: str
) -> None:
    theirs = make_intent(other_merchant)
    mine = make_intent(merchant)
    run(add_all(database_url, [theirs, mine]))
    for param in ("starting_after", "ending_before"):
        query = ListQuery(**{param: theirs.id})  # type: ignore[arg-type]
        with pytest.raises(ResourceMissing) as caught:
            run(list_page(database_url, merchant, query))
        assert caught.value.param == param
        assert caught.value.message == f"No such payment_intent: '{theirs.id}'"
    with pytest.raises(ResourceMissing, match="No such payment_intent"):
        run(list_page(database_url, merchant, ListQuery(starting_after=new_id("pi"))))


# Attempts --------------------------------------------------------------------------------------


def test_attempt_round_trip(database_url: str, owner: psycopg.Connection, merchant: str) -> None:
    intent_id = insert_intent(owner, merchant)
    attempt = Attempt(
        id=new_id("att"),
        payment_intent_id=intent_id,
        merchant_id=merchant,
        kind=AttemptKind.AUTHORIZE,
        status=AttemptStatus.PENDING,
        connector="simulator",
        psp_idempotency_key=new_id("psp"),
        amount=1000,
        currency="usd",
        payment_method="pm_card_visa",
        capture=True,
        reason=None,
        charge_id=new_id("ch"),
    )

    async def scenario() -> tuple[Attempt, Attempt, list[Attempt]]:
        async with app_session(database_url) as conn:
            repo = PgAttempts(conn)
            await repo.add(attempt)
            await conn.commit()
            first = await repo.get(attempt.id)
            done = dataclasses.replace(
                attempt,
                status=AttemptStatus.FAILED,
                psp_reference="psp_ref_1",
                error={"code": "card_declined", "decline_code": "generic_decline"},
            )
            await repo.save(done)
            await conn.commit()
            return first, await repo.get(attempt.id, lock=True), await repo.for_intent(intent_id)

    first, saved, listed = run(scenario())
    assert first == attempt
    assert saved.status is AttemptStatus.FAILED
    assert saved.psp_reference == "psp_ref_1"
    assert saved.error == {"code": "card_declined", "decline_code": "generic_decline"}
    assert listed == [saved]


def _make_attempts(
    owner: psycopg.Connection, merchant: str, specs: list[tuple[str, str, int]], *, first: int = 0
) -> list[str]:
    """Attempts (one intent each) with (status, updated_at offset sql, checks).

    next_check_at lies in the distant past so that these sort before anybody else's due
    attempts: with `limit` equal to our count, due() claims only ours on a shared database.
    """
    made = []
    for n, (status, updated_at, checks) in enumerate(specs):
        intent = insert_intent(owner, merchant)
        attempt = insert_attempt(owner, intent, merchant, status=status)
        owner.execute(
            f"UPDATE payment_attempts SET updated_at = {updated_at}, checks = %s, "  # noqa: S608
            "next_check_at = timestamptz '2000-01-01' + make_interval(secs => %s) WHERE id = %s",
            (checks, first + n, attempt),
        )
        made.append(attempt)
    return made


def _close(owner: psycopg.Connection, attempt_ids: list[str]) -> None:
    # Leave nothing open for a resolver that may share this database (the e2e platform).
    owner.execute(
        "UPDATE payment_attempts SET status = 'failed', updated_at = now() WHERE id = ANY(%s)",
        (attempt_ids,),
    )


# A worker of the e2e platform may run on the same database with min_age 1 s: "old" here is
# 0.3 s, so that ours are claimed by the test and not by it.
OLD = "now() - interval '300 milliseconds'"
YOUNG = "now()"
MIN_AGE = 0.2


def test_due_claims_only_open_attempts_older_than_min_age(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    # The ones due() must skip come first in next_check_at order: a missing filter would show.
    young_and_closed = _make_attempts(
        owner,
        merchant,
        [("pending", YOUNG, 0), ("unknown", YOUNG, 0), ("succeeded", OLD, 0), ("failed", OLD, 0)],
    )
    young, closed = young_and_closed[:2], young_and_closed[2:]
    old_open = _make_attempts(
        owner, merchant, [("pending", OLD, 0), ("unknown", OLD, 0)], first=len(young_and_closed)
    )
    try:

        async def due() -> list[Attempt]:
            async with app_session(database_url) as conn:
                picked = await PgAttempts(conn).due(limit=2, min_age_seconds=MIN_AGE)
                await conn.commit()
                return picked

        picked = run(due())
        assert sorted(a.id for a in picked) == sorted(old_open)
        assert {a.status for a in picked} == {AttemptStatus.PENDING, AttemptStatus.UNKNOWN}
        rows = owner.execute(
            "SELECT id, checks, next_check_at > now() FROM payment_attempts WHERE id = ANY(%s)",
            (old_open + young + closed,),
        ).fetchall()
        state = {row[0]: (row[1], row[2]) for row in rows}
        assert all(state[a] == (1, True) for a in old_open)  # claimed: pushed into the future
        assert all(state[a] == (0, False) for a in young + closed)  # untouched
    finally:
        _close(owner, old_open + young)


def test_due_is_shared_between_concurrent_resolvers(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    mine = _make_attempts(owner, merchant, [("pending", OLD, 0)] * 6)
    try:

        async def two_resolvers() -> tuple[list[Attempt], list[Attempt], int]:
            first_conn, second_conn = (
                await app_connect(database_url),
                await app_connect(database_url),
            )
            async with first_conn, second_conn:
                # The first resolver claims 3 and keeps its transaction open...
                first = await PgAttempts(first_conn).due(limit=3, min_age_seconds=MIN_AGE)
                # ...the second is not blocked by those rows and gets the other 3.
                second = await asyncio.wait_for(
                    PgAttempts(second_conn).due(limit=3, min_age_seconds=MIN_AGE), timeout=4
                )
                await first_conn.commit()
                await second_conn.commit()
                # Once claimed and committed, none of them is due again before its backoff.
                cur = await first_conn.execute(
                    "SELECT count(*) FROM payment_attempts WHERE id = ANY(%s) "
                    "AND next_check_at <= now()",
                    (mine,),
                )
                row = await cur.fetchone()
                assert row is not None
                return first, second, row[0]

        first, second, still_due = run(two_resolvers())
        assert [a.id for a in first] == mine[:3]  # oldest next_check_at first
        assert sorted(a.id for a in second) == sorted(mine[3:])
        assert still_due == 0
    finally:
        _close(owner, mine)


def test_due_backoff_grows_with_checks(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    checks = [0, 1, 3, 6, 9, 10, 20]
    mine = _make_attempts(owner, merchant, [("unknown", OLD, c) for c in checks])
    try:

        async def claim_and_measure() -> dict[str, tuple[int, float]]:
            async with app_session(database_url) as conn:
                picked = await PgAttempts(conn).due(limit=len(mine), min_age_seconds=MIN_AGE)
                assert sorted(a.id for a in picked) == sorted(mine)
                # now() is the transaction's start, the same instant due() pushed from.
                cur = await conn.execute(
                    "SELECT id, checks, extract(epoch FROM next_check_at - now()) "
                    "FROM payment_attempts WHERE id = ANY(%s)",
                    (mine,),
                )
                rows = await cur.fetchall()
                await conn.commit()
                return {row[0]: (row[1], float(row[2])) for row in rows}

        measured = run(claim_and_measure())
        got = [measured[a] for a in mine]
        assert got == [(c + 1, float(min(600, 2**c))) for c in checks]
        delays = [delay for _, delay in got]
        assert delays == sorted(delays)
        assert delays[-1] == 600  # capped at 10 minutes
    finally:
        _close(owner, mine)


def test_due_backoff_survives_a_long_unknown_attempt(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    [attempt] = _make_attempts(owner, merchant, [("unknown", OLD, 1024)])
    try:

        async def due() -> list[Attempt]:
            async with app_session(database_url) as conn:
                picked = await PgAttempts(conn).due(limit=1, min_age_seconds=MIN_AGE)
                await conn.commit()
                return picked

        assert [a.id for a in run(due())] == [attempt]
    finally:
        _close(owner, [attempt])
