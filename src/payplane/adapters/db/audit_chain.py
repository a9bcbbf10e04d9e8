"""The audit chain in PostgreSQL: the sealer that extends it, and the reader that verifies it.

Writers only insert audit rows; sealing happens later, in the worker, so no request waits on a
chain-wide lock. Chain order is (xact_id, id): the id of the transaction that wrote the row
(stamped by a trigger), then the row id. Row ids alone would not do: they are drawn when a row
is inserted, not when its transaction commits, so a row with a lower id can become visible after
one with a higher id was sealed, and would be skipped or break the order.

The sealer's horizon is pg_snapshot_xmin(pg_current_snapshot()): every transaction with a
lower id has ended, so all the rows they wrote are visible now and no new row can ever carry
such an id. Sealing only rows below the horizon, in (xact_id, id) order, therefore extends the
chain strictly in order and never skips a row. The price: a long-running writing transaction
anywhere on the server holds sealing back until it ends (the rows wait, none is lost).

Several workers may run the sealer: a transaction-level advisory lock lets one seal at a time,
and the others skip the round. audit_seals' primary key (seq) and unique audit_id refuse a
forked chain even so.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from payplane.domain import audit_chain
from payplane.domain.audit_chain import Finding, Problem, Seal

# Advisory lock keys share one namespace per database; this one is "pp-audit" in ASCII.
SEALER_LOCK_KEY = int.from_bytes(b"pp-audit", "big")

_HEAD = """
SELECT s.seq, s.hash, a.xact_id::text AS xact_id, a.id
  FROM audit_seals s LEFT JOIN audit_log a ON a.id = s.audit_id
 ORDER BY s.seq DESC LIMIT 1
"""
_SEALABLE = """
SELECT * FROM audit_log
 WHERE xact_id < pg_snapshot_xmin(pg_current_snapshot())
   AND (xact_id, id) > (%s::xid8, %s)
 ORDER BY xact_id, id LIMIT %s
"""
_SEALED = """
SELECT s.seq, s.audit_id, s.prev_hash, s.hash, a.*
  FROM audit_seals s LEFT JOIN audit_log a ON a.id = s.audit_id
 ORDER BY s.seq
"""
# An unsealed row behind the head was never seen by the sealer: inserted with the trigger off.
_COUNTS = """
SELECT (SELECT count(*) FROM audit_seals) AS sealed,
       count(*) AS unsealed,
       array_agg(a.id ORDER BY a.xact_id, a.id)
           FILTER (WHERE (a.xact_id, a.id) < (%s::xid8, %s)) AS behind_head
  FROM audit_log a
 WHERE NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.audit_id = a.id)
"""


class AuditChainBroken(RuntimeError):
    """The sealer cannot extend a chain whose head row is gone; `payplane audit verify` says
    what else is wrong."""


class PgAuditSealer:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def seal(self, *, limit: int) -> int:
        """Seal up to `limit` rows in chain order; how many (0 if another sealer is at work)."""
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute("SELECT pg_try_advisory_xact_lock(%s) AS locked", (SEALER_LOCK_KEY,))
            locked = await cur.fetchone()
            if not (locked and locked["locked"]):
                await conn.rollback()
                return 0
            await cur.execute(_HEAD)
            head = await cur.fetchone()
            if head is not None and head["id"] is None:
                await conn.rollback()
                raise AuditChainBroken(f"the audit row of seal {head['seq']} is gone")
            seq, prev_hash = (head["seq"], head["hash"]) if head else (0, audit_chain.GENESIS)
            after = (head["xact_id"], head["id"]) if head else ("0", 0)
            await cur.execute(_SEALABLE, (*after, limit))
            seals = []
            for row in await cur.fetchall():
                seq += 1
                row_hash = audit_chain.link(prev_hash, row)
                seals.append((seq, row["id"], prev_hash, row_hash))
                prev_hash = row_hash
            if seals:
                await cur.executemany(
                    "INSERT INTO audit_seals (seq, audit_id, prev_hash, hash) "
                    "VALUES (%s, %s, %s, %s)",
                    seals,
                )
            await conn.commit()
            return len(seals)


@dataclass(frozen=True, slots=True)
class ChainReport:
    findings: list[Finding]
    sealed: int
    unsealed: int
    head_hash: bytes | None


def verify_chain(conn: psycopg.Connection[Any]) -> ChainReport:
    """Recompute the whole chain. Run it in one REPEATABLE READ transaction, so that the seals
    and rows it reads are one snapshot."""
    findings = list(audit_chain.verify(_seals(conn)))
    head = conn.execute(_HEAD).fetchone()
    after = (head[2], head[3]) if head and head[3] is not None else ("0", 0)
    counts = conn.execute(_COUNTS, after).fetchone()
    assert counts is not None
    sealed, unsealed, behind_head = counts
    findings.extend(
        Finding(Problem.INSERTED, None, audit_id, "an unsealed row lies behind the chain head")
        for audit_id in behind_head or []
    )
    return ChainReport(findings, sealed, unsealed, head[1] if head else None)


def _seals(conn: psycopg.Connection[Any]) -> Iterator[Seal]:
    with conn.cursor(name="audit_chain") as cur:
        cur.itersize = 2000
        cur.execute(_SEALED)
        assert cur.description is not None
        names = [column.name for column in cur.description][4:]
        for seq, audit_id, prev_hash, seal_hash, *values in cur:
            row = dict(zip(names, values, strict=True))
            yield Seal(seq, audit_id, prev_hash, seal_hash, row if row["id"] is not None else None)
