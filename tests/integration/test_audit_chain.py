"""The audit hash chain on a real PostgreSQL: sealed off the hot path in commit-safe order, and
`payplane audit verify` naming each edited, deleted, reordered or slipped-in row.

Tampering needs the append-only triggers off, which only the owner can do; each test therefore
gets a database of its own, cloned from a migrated template, so the shared one stays intact."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from pg_support import app_pool, app_session
from psycopg import IsolationLevel, errors, sql
from typer.testing import CliRunner

from payplane import bootstrap
from payplane.adapters.db.audit import PgAuditTrail
from payplane.adapters.db.audit_chain import ChainReport, PgAuditSealer, verify_chain
from payplane.adapters.db.pool import APP_ROLE
from payplane.domain.ids import new_id
from payplane.services.ports import RequestContext

TEMPLATE = "payplane_audit_chain_template"


@pytest.fixture(scope="module")
def template_url(database_url: str) -> Iterator[str]:
    base, _, _ = database_url.rpartition("/")
    template = sql.Identifier(TEMPLATE)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(template))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(template))
    url = f"{base}/{TEMPLATE}"
    bootstrap.migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO merchants (id, name) VALUES ('acct_audit', 'audit chain')")
    yield url
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(template))


@pytest.fixture
def db(database_url: str, template_url: str) -> Iterator[str]:
    """A fresh, migrated database: this test's audit chain is the only one in it."""
    base, _, template = template_url.rpartition("/")
    name = f"payplane_audit_{new_id('t', 10).lower()}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    yield f"{base}/{name}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def ctx() -> RequestContext:
    return RequestContext("acct_audit", "operator:op_alice", new_id("req"), "idem-1")


async def _record(url: str, count: int) -> list[int]:
    async with app_session(url) as conn:
        trail = PgAuditTrail(conn)
        for n in range(count):
            await trail.record(
                ctx(),
                "refund.create",
                object_type="refund",
                object_id=f"re_{n}",
                before=None,
                after="pending",
                detail={"amount": 100 * n, "nested": {"k": [1, "ü"]}},
                reason=f"customer asked ({n})",
            )
        cur = await conn.execute("SELECT max(id) FROM audit_log")
        last = (await cur.fetchone() or [0])[0]
        await conn.commit()
    return list(range(last - count + 1, last + 1))


def record(url: str, count: int) -> list[int]:
    return asyncio.run(_record(url, count))


async def _seal(url: str, limit: int = 1000) -> int:
    async with app_pool(url) as pool:
        return await PgAuditSealer(pool).seal(limit=limit)


def seal(url: str, limit: int = 1000) -> int:
    return asyncio.run(_seal(url, limit))


def verify(url: str) -> ChainReport:
    with psycopg.connect(url) as conn:
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        return verify_chain(conn)


def findings(url: str) -> list[tuple[str, int | None, int | None]]:
    return [(f.problem.value, f.seq, f.audit_id) for f in verify(url).findings]


def tamper(url: str, table: str, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """Run `statements` as the owner with `table`'s append-only triggers disabled."""
    with psycopg.connect(url) as conn:
        conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        for statement, params in statements:
            conn.execute(statement, params)  # type: ignore[arg-type]
        conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def test_a_clean_chain_verifies_and_unsealed_rows_are_counted(db: str) -> None:
    ids = record(db, 5)
    assert verify(db).unsealed == 5
    assert seal(db, limit=3) == 3
    assert seal(db) == 2
    assert seal(db) == 0
    record(db, 2)
    report = verify(db)
    assert report.findings == []
    assert (report.sealed, report.unsealed) == (5, 2)
    assert report.head_hash is not None
    with psycopg.connect(db) as conn:
        sealed = conn.execute("SELECT audit_id FROM audit_seals ORDER BY seq").fetchall()
        rows = conn.execute(
            "SELECT actor, request_id, reason FROM audit_log WHERE id = %s", (ids[2],)
        ).fetchone()
    assert [r[0] for r in sealed] == ids
    assert rows is not None
    assert rows[0] == "operator:op_alice"
    assert rows[1].startswith("req_")
    assert rows[2] == "customer asked (2)"


def test_an_edited_row_is_named(db: str) -> None:
    ids = record(db, 5)
    seal(db)
    tamper(
        db, "audit_log", ("UPDATE audit_log SET reason = 'nobody asked' WHERE id = %s", (ids[2],))
    )
    assert findings(db) == [("edited", 3, ids[2])]


def test_an_edited_detail_is_named(db: str) -> None:
    ids = record(db, 3)
    seal(db)
    tamper(
        db,
        "audit_log",
        (
            "UPDATE audit_log SET detail = jsonb_set(detail, '{amount}', '1') WHERE id = %s",
            (ids[0],),
        ),
    )
    assert findings(db) == [("edited", 1, ids[0])]


def test_a_deleted_row_is_named(db: str) -> None:
    ids = record(db, 5)
    seal(db)
    tamper(db, "audit_log", ("DELETE FROM audit_log WHERE id = %s", (ids[1],)))
    assert findings(db) == [("deleted", 2, ids[1])]


def test_a_row_deleted_with_its_seal_leaves_a_gap(db: str) -> None:
    ids = record(db, 5)
    seal(db)
    tamper(db, "audit_log", ("DELETE FROM audit_log WHERE id = %s", (ids[2],)))
    tamper(db, "audit_seals", ("DELETE FROM audit_seals WHERE seq = 3", ()))
    report = verify(db)
    assert [(f.problem.value, f.seq, f.audit_id) for f in report.findings] == [
        ("deleted", 4, ids[3])
    ]
    assert report.findings[0].detail == "seal 3 is missing before it"


def test_reordered_seals_are_named(db: str) -> None:
    ids = record(db, 5)
    seal(db)
    # Swap the places of seals 2 and 3: each link around them breaks.
    tamper(
        db,
        "audit_seals",
        ("UPDATE audit_seals SET seq = 1000 WHERE seq = 2", ()),
        ("UPDATE audit_seals SET seq = 2 WHERE seq = 3", ()),
        ("UPDATE audit_seals SET seq = 3 WHERE seq = 1000", ()),
    )
    assert findings(db) == [
        ("reordered", 2, ids[2]),
        ("reordered", 3, ids[1]),
        ("reordered", 4, ids[3]),
    ]


def test_a_row_slipped_in_behind_the_head_is_named(db: str) -> None:
    record(db, 3)
    seal(db)
    with psycopg.connect(db) as conn:
        # With the stamping trigger off, a row can claim an old transaction id.
        conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_stamp_xact")
        row = conn.execute(
            "INSERT INTO audit_log (actor, action, xact_id) VALUES ('x', 'forged', '3') "
            "RETURNING id"
        ).fetchone()
        conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_stamp_xact")
    assert row is not None
    assert seal(db) == 0  # the sealer is past it for good
    assert findings(db) == [("inserted", None, row[0])]


def test_a_row_committed_after_a_higher_id_is_not_skipped(db: str) -> None:
    async def scenario() -> tuple[int, int, int]:
        async with app_session(db) as early, app_session(db) as late:
            # `early` draws the lower id but commits last: an id-ordered sealer would skip it.
            await PgAuditTrail(early).record(ctx(), "early")
            await PgAuditTrail(late).record(ctx(), "late")
            await late.commit()
            while_open = await _seal(db)
            await early.commit()
        return while_open, await _seal(db), await _seal(db)

    assert asyncio.run(scenario()) == (0, 2, 0)
    with psycopg.connect(db) as conn:
        actions = conn.execute(
            "SELECT a.action FROM audit_seals s JOIN audit_log a ON a.id = s.audit_id "
            "ORDER BY s.seq"
        ).fetchall()
    assert [a[0] for a in actions] == ["early", "late"]
    assert findings(db) == []


def test_concurrent_sealers_build_one_chain(db: str) -> None:
    record(db, 300)

    async def race() -> list[int]:
        async with app_pool(db, size=4) as pool:
            sealers = [PgAuditSealer(pool) for _ in range(4)]
            counts = [0] * 4
            while sum(counts) < 300:
                done = await asyncio.gather(*(s.seal(limit=7) for s in sealers))
                counts = [c + d for c, d in zip(counts, done, strict=True)]
            return counts

    assert sum(asyncio.run(race())) == 300
    report = verify(db)
    assert (report.findings, report.sealed, report.unsealed) == ([], 300, 0)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET reason = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "UPDATE audit_seals SET seq = seq + 1",
        "DELETE FROM audit_seals",
        "TRUNCATE audit_seals",
    ],
)
def test_the_app_role_cannot_change_audit_rows_or_seals(db: str, statement: str) -> None:
    record(db, 1)
    seal(db)
    with psycopg.connect(db) as conn:
        conn.execute(f"SET ROLE {APP_ROLE}")
        with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
            conn.execute(statement)  # type: ignore[arg-type]
    with (
        psycopg.connect(db) as conn,  # the owner is refused by the triggers
        pytest.raises(errors.InsufficientPrivilege, match="is append-only"),
    ):
        conn.execute(statement)  # type: ignore[arg-type]


def test_cli_verify_exits_1_and_names_the_row(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from payplane.cli.main import app
    from payplane.config import get_settings

    ids = record(db, 3)
    seal(db)
    monkeypatch.setenv("PAYPLANE_DATABASE_URL", db)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        clean = runner.invoke(app, ["audit", "verify"], env={"COLUMNS": "200"})
        tamper(db, "audit_log", ("UPDATE audit_log SET actor = 'mallory' WHERE id = %s", (ids[1],)))
        broken = runner.invoke(app, ["audit", "verify"], env={"COLUMNS": "200"})
    finally:
        get_settings.cache_clear()
    assert clean.exit_code == 0, clean.output
    assert "audit chain intact" in clean.output
    assert "3 rows sealed, 0 not sealed yet" in clean.output
    assert broken.exit_code == 1, broken.output
    assert "1 audit chain problems" in broken.output
    row = next(line for line in broken.output.splitlines() if "edited" in line)
    assert f" {ids[1]} " in row
    assert "the row differs from what was sealed" in row
