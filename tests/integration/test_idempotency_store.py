"""PgIdempotencyKeys.claim on a real PostgreSQL: NEW, IN_USE, MISMATCH, REPLAY, RESUME,
per-merchant scope, and exactly one winner among concurrent first uses."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
from pg_support import app_connect, insert_attempt, insert_intent, run

from payplane.adapters.db.idempotency import PgIdempotencyKeys
from payplane.domain.ids import new_id
from payplane.services.ports import Claim, ClaimState, RequestContext

METHOD, PATH, FINGERPRINT = "POST", "/v1/payment_intents", "fp-amount=1000&currency=usd"


def context(merchant_id: str, key: str | None = None) -> RequestContext:
    return RequestContext(merchant_id, "test", new_id("req"), key or new_id("idem"))


async def claim_once(
    database_url: str,
    ctx: RequestContext,
    *,
    method: str = METHOD,
    path: str = PATH,
    fingerprint: str = FINGERPRINT,
    lock_seconds: float = 30.0,
    checkpoint: tuple[str, str] | None = None,
    finish: tuple[int, dict[str, Any]] | None = None,
    release: bool = False,
    commit: bool = True,
) -> Claim:
    """One request's transaction: claim, then optionally checkpoint/finish/release, commit."""
    conn = await app_connect(database_url)
    async with conn:
        keys = PgIdempotencyKeys(conn)
        result = await keys.claim(
            ctx, method=method, path=path, fingerprint=fingerprint, lock_seconds=lock_seconds
        )
        if checkpoint is not None:
            await keys.checkpoint(ctx, *checkpoint)
        if finish is not None:
            await keys.finish(ctx, *finish)
        if release:
            await keys.release(ctx)
        if commit:
            await conn.commit()
        else:
            await conn.rollback()
    return result


def claim(database_url: str, ctx: RequestContext, **kwargs: Any) -> Claim:
    return run(claim_once(database_url, ctx, **kwargs))


def test_lifecycle_new_in_use_mismatch_replay(database_url: str, merchant: str) -> None:
    ctx = context(merchant)
    assert claim(database_url, ctx) == Claim(ClaimState.NEW)
    # The first request still holds the lease.
    assert claim(database_url, ctx).state is ClaimState.IN_USE
    # Other parameters under the same key are refused even while the first request runs.
    assert claim(database_url, ctx, fingerprint="fp-other").state is ClaimState.MISMATCH
    assert claim(database_url, ctx, path="/v1/refunds").state is ClaimState.MISMATCH
    assert claim(database_url, ctx, method="DELETE").state is ClaimState.MISMATCH

    body = {"id": "pi_123", "object": "payment_intent", "metadata": {"k": "ü"}, "amount": 1000}

    # finish() in a transaction of its own, as the request's last step.
    async def finish() -> None:
        conn = await app_connect(database_url)
        async with conn:
            await PgIdempotencyKeys(conn).finish(ctx, 200, body)
            await conn.commit()

    run(finish())
    replay = claim(database_url, ctx)
    assert replay.state is ClaimState.REPLAY
    assert (replay.response_status, replay.response_body) == (200, body)
    assert replay.recovery_point == "finished"
    # Replays are repeatable and a different body still is an error after the fact.
    assert claim(database_url, ctx).state is ClaimState.REPLAY
    assert claim(database_url, ctx, fingerprint="fp-other").state is ClaimState.MISMATCH


def test_stored_error_response_is_replayed(database_url: str, merchant: str) -> None:
    ctx = context(merchant)
    error = {"error": {"type": "card_error", "code": "card_declined", "param": None}}
    assert claim(database_url, ctx, finish=(402, error)).state is ClaimState.NEW
    replay = claim(database_url, ctx)
    assert (replay.state, replay.response_status, replay.response_body) == (
        ClaimState.REPLAY,
        402,
        error,
    )


def test_expired_lease_resumes_from_the_checkpoint(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    intent = insert_intent(owner, merchant)
    attempt = insert_attempt(owner, intent, merchant)
    ctx = context(merchant)
    first = claim(database_url, ctx, lock_seconds=0.2, checkpoint=("attempt_created", attempt))
    assert first.state is ClaimState.NEW
    assert claim(database_url, ctx).state is ClaimState.IN_USE
    time.sleep(0.3)  # the first request died: its lease runs out
    resumed = claim(database_url, ctx, lock_seconds=30)
    assert resumed == Claim(ClaimState.RESUME, "attempt_created", attempt)
    # Resuming takes a fresh lease.
    assert claim(database_url, ctx).state is ClaimState.IN_USE
    assert claim(database_url, ctx, fingerprint="fp-other").state is ClaimState.MISMATCH


def test_release_makes_the_key_resumable_at_once(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    intent = insert_intent(owner, merchant)
    attempt = insert_attempt(owner, intent, merchant)
    ctx = context(merchant)
    assert claim(database_url, ctx, checkpoint=("attempt_sent", attempt)).state is ClaimState.NEW
    assert claim(database_url, ctx).state is ClaimState.IN_USE

    async def release() -> None:
        conn = await app_connect(database_url)
        async with conn:
            await PgIdempotencyKeys(conn).release(ctx)
            await conn.commit()

    run(release())
    assert claim(database_url, ctx) == Claim(ClaimState.RESUME, "attempt_sent", attempt)


def test_a_claim_rolled_back_leaves_the_key_unused(database_url: str, merchant: str) -> None:
    ctx = context(merchant)
    assert claim(database_url, ctx, commit=False).state is ClaimState.NEW
    assert claim(database_url, ctx).state is ClaimState.NEW


def test_keys_are_scoped_per_merchant(
    database_url: str, merchant: str, other_merchant: str
) -> None:
    key = new_id("idem")
    mine, theirs = context(merchant, key), context(other_merchant, key)
    assert claim(database_url, mine, finish=(200, {"id": "pi_mine"})).state is ClaimState.NEW
    assert claim(database_url, theirs, fingerprint="fp-other").state is ClaimState.NEW
    replay = claim(database_url, mine)
    assert (replay.state, replay.response_body) == (ClaimState.REPLAY, {"id": "pi_mine"})
    assert claim(database_url, theirs, fingerprint="fp-other").state is ClaimState.IN_USE


async def _concurrent_claims(
    database_url: str, ctx: RequestContext, n: int, *, hold_seconds: float
) -> list[ClaimState]:
    conns = [await app_connect(database_url) for _ in range(n)]
    start = asyncio.Event()

    async def one(conn: psycopg.AsyncConnection[Any]) -> ClaimState:
        await start.wait()
        result = await PgIdempotencyKeys(conn).claim(
            ctx, method=METHOD, path=PATH, fingerprint=FINGERPRINT, lock_seconds=30
        )
        await asyncio.sleep(hold_seconds)  # the request's work, inside the transaction
        await conn.commit()
        return result.state

    try:
        tasks = [asyncio.create_task(one(conn)) for conn in conns]
        start.set()
        return await asyncio.gather(*tasks)
    finally:
        for conn in conns:
            await conn.close()


def test_concurrent_first_use_has_exactly_one_winner(database_url: str, merchant: str) -> None:
    ctx = context(merchant)
    states = run(_concurrent_claims(database_url, ctx, 20, hold_seconds=0.05))
    assert sorted(states) == sorted([ClaimState.NEW] + [ClaimState.IN_USE] * 19)


def test_concurrent_resume_has_exactly_one_winner(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    intent = insert_intent(owner, merchant)
    attempt = insert_attempt(owner, intent, merchant)
    ctx = context(merchant)
    claim(database_url, ctx, lock_seconds=0.1, checkpoint=("attempt_created", attempt))
    time.sleep(0.2)
    states = run(_concurrent_claims(database_url, ctx, 10, hold_seconds=0.02))
    assert sorted(states) == sorted([ClaimState.RESUME] + [ClaimState.IN_USE] * 9)


def test_purge_forgets_only_keys_past_retention(
    database_url: str, owner: psycopg.Connection, merchant: str
) -> None:
    old, fresh = context(merchant), context(merchant)
    claim(database_url, old, finish=(200, {"id": "pi_old"}))
    claim(database_url, fresh, finish=(200, {"id": "pi_fresh"}))
    owner.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '31 days' "
        "WHERE merchant_id = %s AND key = %s",
        (merchant, old.idempotency_key),
    )
    owner.commit()

    async def purge() -> int:
        conn = await app_connect(database_url)
        async with conn:
            purged = await PgIdempotencyKeys(conn).purge(older_than_days=30, limit=1000)
            await conn.commit()
        return purged

    assert run(purge()) >= 1
    assert claim(database_url, old).state is ClaimState.NEW, "a purged key is new again"
    assert claim(database_url, fresh).state is ClaimState.REPLAY
