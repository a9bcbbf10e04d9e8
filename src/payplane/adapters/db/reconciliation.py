"""Reconciliation runs in PostgreSQL: the report stored (its lines by COPY), matched against the
books set-based (the statements and their working set are in matching.py), the journals linked,
every break opened as a remediation item, and runs superseded by corrected reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from payplane.adapters.db import matching
from payplane.adapters.db.listing import page
from payplane.domain.errors import ResourceMissing, UnexpectedState
from payplane.domain.ids import new_id
from payplane.domain.ledger import Balance, SettlementTotals
from payplane.domain.settlement import CARD, ReportLine
from payplane.services.ports import ListQuery, Page
from payplane.services.reconciliation_ports import (
    BatchTotals,
    FeeRate,
    NewRun,
    PostedJournal,
)

_LINE_COLUMNS = (
    "report_id, line_no, type, psp_reference, merchant_reference, payment_method, created_at, "
    "modification_reference, currency, gross_debit, gross_credit, net_debit, net_credit, "
    "commission, batch_number"
)

_WORK_MEM = "256MB"

_ITEMS = """
INSERT INTO remediation_items (id, run_id, source, report_date, type, merchant_id,
    payment_intent_id, movement_kind, movement_id, report_id, line_no, line_type, batch_number,
    psp_reference, merchant_reference, modification_reference, amount, currency,
    expected_amount, expected_currency, suspense, attempt_id, proposal, explanation, created)
SELECT 'rmi_' || replace(gen_random_uuid()::text, '-', ''), %(run)s, %(source)s, %(day)s,
       type, merchant_id, intent_id, mv_kind, mv_id,
       CASE WHEN line_no IS NOT NULL THEN %(report)s END, line_no, line_type, batch_number,
       psp_reference, merchant_reference, modification_reference, amount, currency,
       expected_amount, expected_currency, suspense, attempt_id, proposal, explanation,
       %(created)s
  FROM recon_breaks
"""

_MATCHES = """
INSERT INTO settlement_matches (movement_kind, movement_id, run_id, report_id, line_no)
SELECT mv_kind, mv_id, %(run)s, %(report)s, line_no FROM recon_lines
 WHERE booked AND coalesce(first_line, line_no) = line_no AND NOT matched_before
   AND (class IS NULL OR class IN ('amount_mismatch', 'currency_mismatch'))
"""

# An item's suspense sits in the journals of its batch (or the missing_in_report ones), in each
# currency it holds an amount in.
_OPENED = """
INSERT INTO remediation_item_journals (item_id, journal_id, purpose)
SELECT DISTINCT i.id, j.journal_id, 'opened'
  FROM remediation_items i
 CROSS JOIN LATERAL jsonb_to_recordset(i.suspense) AS s(currency text)
  JOIN reconciliation_journals j
    ON j.run_id = i.run_id AND j.currency = s.currency
   AND j.purpose = CASE WHEN i.type = 'missing_in_report' THEN 'missing_in_report'
                        ELSE 'settlement' END
   AND j.batch_number IS NOT DISTINCT FROM i.batch_number
 WHERE i.run_id = %(run)s
"""

_TIMING = """
WITH settled AS (
    SELECT DISTINCT ON (missing_item) missing_item, line_no, batch_number, mv_currency
      FROM recon_lines
     WHERE missing_status IN ('open', 'in_review') AND booked
       AND (class IS NULL OR class IN ('amount_mismatch', 'currency_mismatch'))
     ORDER BY missing_item, line_no
),
resolved AS (
    UPDATE remediation_items i
       SET status = 'auto_resolved', updated_at = now(),
           explanation = format('A timing difference: line %%s of the %%s report of %%s '
                                || 'settles it, so its suspense went back to the receivable.',
                                s.line_no, %(source)s::text, %(day)s::date)
      FROM settled s WHERE i.id = s.missing_item
    RETURNING i.id, s.batch_number, s.mv_currency
)
INSERT INTO remediation_item_journals (item_id, journal_id, purpose)
SELECT r.id, j.journal_id, 'resolved'
  FROM resolved r
  JOIN reconciliation_journals j
    ON j.run_id = %(run)s AND j.purpose = 'settlement'
   AND j.batch_number = r.batch_number AND j.currency = r.mv_currency
"""

# Superseding a run: the journals to reverse are its own (not the reversals it made itself)
# and those that resolved its items after it ran (captures the PSP confirmed).
_SUPERSEDE = (
    """
CREATE TEMP TABLE recon_superseded ON COMMIT DROP AS
SELECT journal_id FROM reconciliation_journals
 WHERE run_id = %(old)s AND purpose <> 'supersede'
UNION
SELECT j.journal_id FROM remediation_item_journals j
  JOIN remediation_items i ON i.id = j.item_id
 WHERE i.run_id = %(old)s AND j.purpose = 'resolved'
""",
    "UPDATE reconciliation_runs SET status = 'superseded' WHERE id = %(old)s",
    "DELETE FROM settlement_matches WHERE run_id = %(old)s",
    "CREATE TEMP TABLE recon_reopened (id text, suspense jsonb) ON COMMIT DROP",
    """
WITH reopened AS (
    UPDATE remediation_items i
       SET status = 'open', updated_at = now(),
           explanation = format('Reopened: run %%s, whose report had settled it, is superseded.',
                                %(old)s::text)
     WHERE i.run_id <> %(old)s AND i.status = 'auto_resolved'
       AND EXISTS (SELECT 1 FROM remediation_item_journals j
                    WHERE j.item_id = i.id AND j.purpose = 'resolved'
                      AND j.journal_id IN (SELECT journal_id FROM recon_superseded))
    RETURNING i.id, i.suspense
)
INSERT INTO recon_reopened SELECT id, suspense FROM reopened
""",
    "CREATE TEMP TABLE recon_closed (id text, suspense jsonb) ON COMMIT DROP",
    """
WITH closed AS (
    UPDATE remediation_items
       SET status = 'auto_resolved', updated_at = now(),
           explanation = coalesce(explanation || ' ', '')
                         || 'Closed: a run of the corrected report superseded this one.'
     WHERE run_id = %(old)s AND status = 'open'
    RETURNING id, suspense
)
INSERT INTO recon_closed SELECT id, suspense FROM closed
""",
)

_REVERSED_BALANCES = """
SELECT a.code, e.currency,
       sum(CASE e.direction WHEN 'debit' THEN e.amount ELSE -e.amount END)::bigint AS net
  FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
 WHERE e.journal_id IN (SELECT journal_id FROM recon_superseded)
 GROUP BY 1, 2
HAVING sum(CASE e.direction WHEN 'debit' THEN e.amount ELSE -e.amount END) <> 0
 ORDER BY 2, 1
"""

_FINISH_SUPERSEDE = (
    "UPDATE reconciliation_runs SET superseded_by = %(new)s WHERE id = %(old)s",
    *(
        f"""
INSERT INTO remediation_item_journals (item_id, journal_id, purpose)
SELECT DISTINCT t.id, j.journal_id, '{purpose}'
  FROM {table} t CROSS JOIN LATERAL jsonb_to_recordset(t.suspense) AS s(currency text)
  JOIN reconciliation_journals j
    ON j.run_id = %(new)s AND j.purpose = 'supersede' AND j.currency = s.currency
"""
        for table, purpose in (("recon_reopened", "reopened"), ("recon_closed", "resolved"))
    ),
)


def _to_run(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "reconciliation_run",
        "source": row["source"],
        "date": row["report_date"].isoformat(),
        "connectors": list(row["connectors"]),
        "status": row["status"],
        "report": {
            "id": row["report_id"],
            "sha256": row["report_sha256"],
            "lines": row["line_count"],
        },
        "supersedes": row["supersedes"],
        "superseded_by": row["superseded_by"],
        "summary": row["summary"],
        "items": row["items"],
        "actor": row["actor"],
        "created": row["created"],
    }


class PgReconciliations:
    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self._conn = conn
        self._params: dict[str, Any] = {}

    async def lock(self, source: str) -> None:
        await self._conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('reconciliation:' || %s, 0))",
            (source,),
        )

    async def current_run(self, source: str, day: date) -> dict[str, Any] | None:
        cur = await self._conn.execute(
            "SELECT id FROM reconciliation_runs "
            "WHERE source = %s AND report_date = %s AND status = 'completed'",
            (source, day),
        )
        row = await cur.fetchone()
        return None if row is None else await self.get_run(row[0])

    async def store_report(
        self, source: str, day: date, sha256: str, body: bytes, lines: Iterable[ReportLine]
    ) -> str:
        cur = await self._conn.execute(
            "INSERT INTO settlement_reports (id, source, report_date, sha256, body) "
            "VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (source, report_date, sha256) DO NOTHING RETURNING id",
            (new_id("srp"), source, day, sha256, body),
        )
        row = await cur.fetchone()
        if row is None:  # these very bytes came before, for a run since superseded
            cur = await self._conn.execute(
                "SELECT id FROM settlement_reports "
                "WHERE source = %s AND report_date = %s AND sha256 = %s",
                (source, day, sha256),
            )
            row = await cur.fetchone()
            assert row is not None
            stored: str = row[0]
            return stored
        report_id: str = row[0]
        async with self._conn.cursor().copy(
            f"COPY settlement_lines ({_LINE_COLUMNS}) FROM STDIN"
        ) as copy:
            for line in lines:
                await copy.write_row((report_id, *line))
        return report_id

    async def classify(
        self,
        report_id: str,
        day: date,
        connectors: Sequence[str],
        fees: Mapping[str, FeeRate],
        products: Mapping[str, str],
    ) -> None:
        self._params = {
            "report": report_id,
            "day": day,
            "connectors": list(connectors),
            "methods": list(products),
            "method_products": list(products.values()),
            "products": list(fees),
            "bps": [rate.bps for rate in fees.values()],
            "fixed": [rate.fixed for rate in fees.values()],
            "card": CARD,
        }
        for statement in (
            # Sorts and hashes of a large report fit in memory: this transaction only.
            f"SET LOCAL work_mem = '{_WORK_MEM}'",
            matching.MOVEMENTS,
            "ANALYZE recon_movements",
            matching.INPUT,
            "ANALYZE recon_input",
            matching.LINES,
            "ANALYZE recon_lines",
            matching.REPEATS,
            matching.OPEN_ATTEMPTS,
            matching.CLASSIFY,
            matching.PAYOUTS,
            matching.MISSING,
            matching.BREAKS,
        ):
            await self._conn.execute(statement, self._params)

    async def batch_totals(self, source: str) -> list[BatchTotals]:
        cur = await self._conn.execute(matching.LEGS, self._params)
        grouped: dict[tuple[int | None, str], dict[str, Any]] = {}
        for batch, currency, role, key, net in await cur.fetchall():
            totals = grouped.setdefault((batch, currency), {"receivable": {}, "suspense": {}})
            if role in ("receivable", "suspense"):
                totals[role][key] = net
            else:
                totals[role] = net
        return [
            BatchTotals(batch, SettlementTotals(source=source, currency=currency, **totals))
            for (batch, currency), totals in grouped.items()
        ]

    async def summary(self) -> dict[str, Any]:
        cur = await self._conn.execute(matching.SUMMARY, self._params)
        row = await cur.fetchone()
        assert row is not None
        summary: dict[str, Any] = row[0]
        return summary

    async def add_run(self, run: NewRun) -> None:
        await self._conn.execute(
            "INSERT INTO reconciliation_runs (id, source, report_date, connectors, report_id, "
            "report_sha256, supersedes, actor, summary, created) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                run.id,
                run.source,
                run.day,
                list(run.connectors),
                run.report_id,
                run.sha256,
                run.supersedes,
                run.actor,
                Jsonb(run.summary),
                run.created,
            ),
        )

    async def record(self, run: NewRun, journals: Sequence[PostedJournal]) -> None:
        await self._link_journals(run.id, journals)
        params = {
            "run": run.id,
            "source": run.source,
            "day": run.day,
            "report": run.report_id,
            "created": run.created,
        }
        for statement in (_MATCHES, _ITEMS, _OPENED, _TIMING):
            await self._conn.execute(statement, params)

    async def _link_journals(self, run_id: str, journals: Sequence[PostedJournal]) -> None:
        async with self._conn.cursor().copy(
            "COPY reconciliation_journals (journal_id, run_id, purpose, batch_number, currency) "
            "FROM STDIN"
        ) as copy:
            for j in journals:
                await copy.write_row((j.journal_id, run_id, j.purpose, j.batch_number, j.currency))

    async def supersede(self, run: dict[str, Any], new_run_id: str) -> list[Balance]:
        await self._refuse_supersede(run)
        params = {"old": run["id"], "new": new_run_id}
        for statement in _SUPERSEDE:
            await self._conn.execute(statement, params)
        cur = await self._conn.execute(_REVERSED_BALANCES)
        return [Balance(code, currency, net) for code, currency, net in await cur.fetchall()]

    async def _refuse_supersede(self, run: dict[str, Any]) -> None:
        cur = await self._conn.execute(
            "SELECT min(report_date)::text FROM reconciliation_runs "
            "WHERE source = %s AND status = 'completed' AND report_date > %s",
            (run["source"], run["date"]),
        )
        later = await cur.fetchone()
        if later is not None and later[0] is not None:
            raise UnexpectedState(
                f"Run {run['id']} cannot be superseded: the run of {later[0]} builds on it. "
                "Supersede the later dates' runs first, the latest first.",
                code="reconciliation_run_not_supersedable",
            )
        cur = await self._conn.execute(
            "SELECT id, status FROM remediation_items WHERE run_id = %s "
            "AND status IN ('in_review', 'resolved', 'written_off') ORDER BY seq LIMIT 5",
            (run["id"],),
        )
        worked = await cur.fetchall()
        if worked:
            names = ", ".join(f"{item_id} ({status})" for item_id, status in worked)
            raise UnexpectedState(
                f"Run {run['id']} cannot be superseded: operators have worked on its items "
                f"({names}), and superseding it would undo their work.",
                code="reconciliation_run_not_supersedable",
            )

    async def finish_supersede(
        self, old_run_id: str, new_run_id: str, reversals: Sequence[PostedJournal]
    ) -> None:
        await self._link_journals(new_run_id, reversals)
        for statement in _FINISH_SUPERSEDE:
            await self._conn.execute(statement, {"old": old_run_id, "new": new_run_id})

    async def get_run(self, run_id: str) -> dict[str, Any]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute("SELECT * FROM reconciliation_run_objects WHERE id = %s", (run_id,))
        row = await cur.fetchone()
        if row is None:
            raise ResourceMissing("reconciliation run", run_id)
        return _to_run(row)

    async def list_runs(self, query: ListQuery) -> Page:
        return await page(
            self._conn,
            table="reconciliation_run_objects",
            resource="reconciliation run",
            merchant_id=None,
            query=query,
            to_object=_to_run,
        )
