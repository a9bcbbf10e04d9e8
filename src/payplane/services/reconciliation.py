"""Reconciliation runs: a PSP's settlement report of one date against Payplane's books.

A run fetches the report and, in one transaction, parses it (a malformed report stops here:
nothing is stored), stores it, matches it set-based, posts a journal per batch and currency
(plus one per currency for movements no report has confirmed), and opens a remediation item per
break. The same report again (same sha256) returns the stored run and posts nothing; a changed
report is refused unless the earlier run is superseded, whose journals are then reversed first.
A dry run does the same work in a transaction that is rolled back.
"""

from __future__ import annotations

import hashlib
import time as clocks
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby
from typing import Any

from payplane.domain import ledger
from payplane.domain.errors import InvalidRequest, PayplaneError
from payplane.domain.ids import new_id
from payplane.domain.ledger import JournalKind
from payplane.domain.settlement import PRODUCT_BY_METHOD, SettlementReportChanged, parse_report
from payplane.services import idempotency
from payplane.services.idempotency import RequestShape
from payplane.services.ports import (
    ClaimState,
    Clock,
    ListQuery,
    Page,
    RequestContext,
    UnitOfWork,
    UnitOfWorkFactory,
)
from payplane.services.reconciliation_ports import FeeRate, NewRun, PostedJournal, Source
from payplane.services.remediation import OPERATOR_SCOPE, SYSTEM_ACTOR, RemediationService
from payplane.services.responses import Response, error_body


@dataclass(frozen=True, slots=True)
class RunOutcome:
    run: dict[str, Any]
    breaks: list[dict[str, Any]] = field(default_factory=list)
    replayed: bool = False  # the stored run of this very report: nothing was posted
    dry_run: bool = False
    seconds: dict[str, float] = field(default_factory=dict)  # per phase; not stored

    def as_object(self) -> dict[str, Any]:
        return {**self.run, "dry_run": self.dry_run, "replayed": self.replayed}


class ReconciliationService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        sources: Sequence[Source],
        remediation: RemediationService,
        clock: Clock,
        *,
        fees: Mapping[str, FeeRate],
        lock_seconds: float,
    ) -> None:
        self._uow = uow
        self._sources = list(sources)
        self._remediation = remediation
        self._clock = clock
        self._fees = dict(fees)
        self._lock_seconds = lock_seconds

    def sources_for(self, connector: str | None, *, param: str = "connector") -> list[Source]:
        """The sources to reconcile: all of them, or the one whose report covers `connector`."""
        if connector is None:
            return list(self._sources)
        found = [s for s in self._sources if connector in s.connectors]
        if not found:
            known = ", ".join(c for s in self._sources for c in s.connectors)
            raise InvalidRequest(
                f"No settlement report covers connector {connector!r}. Connectors: {known}.",
                code="parameter_invalid",
                param=param,
            )
        return found

    async def reconcile(
        self,
        source: Source,
        day: date,
        ctx: RequestContext,
        *,
        dry_run: bool = False,
        supersede: bool = False,
    ) -> RunOutcome:
        phases = _Phases()
        body = await source.reports.fetch(day)
        sha256 = hashlib.sha256(body).hexdigest()
        phases.done("fetch")
        async with self._uow() as uow:
            await uow.reconciliation.lock(source.name)
            current = await uow.reconciliation.current_run(source.name, day)
            if current is not None and current["report"]["sha256"] == sha256:
                breaks = await uow.remediation.for_run(current["id"])
                return RunOutcome(
                    current, breaks, replayed=True, dry_run=dry_run, seconds=phases.seconds
                )
            if current is not None and not supersede:
                raise SettlementReportChanged(
                    source.name, day.isoformat(), current["id"], current["report"]["sha256"], sha256
                )
            run_id = await self._run(uow, source, day, ctx, body, sha256, current, phases)
            await uow.audit.record(
                ctx,
                "reconciliation.dry_run" if dry_run else "reconciliation.run",
                object_type="reconciliation_run",
                object_id=run_id,
                detail={"source": source.name, "date": day.isoformat(), "sha256": sha256},
            )
            run_object = await uow.reconciliation.get_run(run_id)
            breaks = await uow.remediation.for_run(run_id)
            if dry_run:  # rolled back on the way out
                phases.done("post")
                return RunOutcome(run_object, breaks, dry_run=True, seconds=phases.seconds)
            await uow.commit()
            phases.done("post")
        if await self._remediation.ask_psp(source.name):
            async with self._uow() as uow:
                run_object = await uow.reconciliation.get_run(run_id)
                breaks = await uow.remediation.for_run(run_id)
        phases.done("ask_psp")
        return RunOutcome(run_object, breaks, seconds=phases.seconds)

    async def _run(
        self,
        uow: UnitOfWork,
        source: Source,
        day: date,
        ctx: RequestContext,
        body: bytes,
        sha256: str,
        current: dict[str, Any] | None,
        phases: _Phases,
    ) -> str:
        """Store, match and post the report (superseding `current` first); the run's id."""
        run_id = new_id("rcr")
        reversals = await self._supersede(uow, current, run_id) if current else []
        lines = parse_report(body)  # parsed as the COPY takes them
        report_id = await uow.reconciliation.store_report(source.name, day, sha256, body, lines)
        phases.done("parse_load")
        await uow.reconciliation.classify(
            report_id, day, source.connectors, self._fees, PRODUCT_BY_METHOD
        )
        phases.done("match")
        journals = await self._post(uow, source.name)
        run = NewRun(
            id=run_id,
            source=source.name,
            day=day,
            connectors=source.connectors,
            report_id=report_id,
            sha256=sha256,
            actor=ctx.actor,
            summary=_with_journals(await uow.reconciliation.summary(), journals, reversals),
            created=self._clock.now(),
            supersedes=current["id"] if current else None,
        )
        await uow.reconciliation.add_run(run)
        if current is not None:
            await uow.reconciliation.finish_supersede(current["id"], run_id, reversals)
        await uow.reconciliation.record(run, journals)
        return run_id

    async def _supersede(
        self, uow: UnitOfWork, current: dict[str, Any], run_id: str
    ) -> list[PostedJournal]:
        """Reverse what the current run posted, one journal per currency."""
        balances = await uow.reconciliation.supersede(current, run_id)
        reversals = []
        for currency, legs in groupby(balances, key=lambda leg: leg.currency):
            journal = ledger.reversal(JournalKind.SETTLEMENT_REVERSAL, legs)
            reversals.append(PostedJournal(await uow.ledger.post(journal), "supersede", currency))
        return reversals

    async def _post(self, uow: UnitOfWork, source: str) -> list[PostedJournal]:
        posted = []
        for batch in await uow.reconciliation.batch_totals(source):
            missing = batch.batch_number is None
            kind = JournalKind.MISSING_IN_REPORT if missing else JournalKind.SETTLEMENT
            journal_id = await uow.ledger.post(ledger.settlement(batch.totals, kind=kind))
            posted.append(
                PostedJournal(
                    journal_id,
                    kind.value,
                    batch.totals.currency,
                    batch.batch_number,
                )
            )
        return posted

    # -- the API and the worker --------------------------------------------------------------

    async def create(
        self,
        ctx: RequestContext,
        shape: RequestShape,
        day: date,
        connector: str | None,
        *,
        dry_run: bool,
        supersede: bool,
    ) -> Response:
        """POST /v1/reconciliation/runs: one source (the connector's, or the only one)."""
        sources = self.sources_for(connector)
        if len(sources) != 1:
            raise InvalidRequest(
                "Several settlement sources are configured: name a connector.",
                code="parameter_missing",
                param="connector",
            )
        async with self._uow() as uow:
            claimed = await idempotency.claim(uow, ctx, shape, self._lock_seconds)
            if claimed is not None and claimed.state is ClaimState.REPLAY:
                return idempotency.replay(claimed)
            await uow.commit()  # the key stays claimed while the run works: a retry gets 409
        try:
            outcome = await self.reconcile(
                sources[0], day, ctx, dry_run=dry_run, supersede=supersede
            )
            response = Response(200, outcome.as_object())
        except Exception as exc:
            if isinstance(exc, PayplaneError) and exc.http_status < 500:
                response = Response(exc.http_status, error_body(exc))
            else:  # the PSP or the database failed: a retry with the key runs it again
                await self._release(ctx)
                raise
        async with self._uow() as uow:
            await idempotency.finish(uow, ctx, response)
            await uow.commit()
        return response

    async def _release(self, ctx: RequestContext) -> None:
        if ctx.idempotency_key is None:
            return
        async with self._uow() as uow:
            await uow.idempotency.release(ctx)
            await uow.commit()

    async def retrieve(self, run_id: str) -> dict[str, Any]:
        async with self._uow() as uow:
            return await uow.reconciliation.get_run(run_id)

    async def list(self, query: ListQuery) -> Page:
        async with self._uow() as uow:
            return await uow.reconciliation.list_runs(query)

    async def run_daily(self, at: time) -> int:
        """From `at` (UTC) on, reconcile yesterday for every source not reconciled yet; how many
        runs were made. Any number of workers may call it: runs of a source are serialized and
        a second one finds the first's run."""
        now = datetime.fromtimestamp(self._clock.now(), UTC)
        if now.time() < at:
            return 0
        day = now.date() - timedelta(days=1)
        made = 0
        for source in self._sources:
            async with self._uow() as uow:
                if await uow.reconciliation.current_run(source.name, day) is not None:
                    continue
            ctx = RequestContext(OPERATOR_SCOPE, SYSTEM_ACTOR, new_id("req"))
            outcome = await self.reconcile(source, day, ctx)
            made += not outcome.replayed
        return made


class _Phases:
    """Wall-clock seconds of each phase of a run, for the CLI and the benchmark."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._since = clocks.perf_counter()

    def done(self, phase: str) -> None:
        now = clocks.perf_counter()
        self.seconds[phase] = now - self._since
        self._since = now


def _with_journals(
    summary: dict[str, Any],
    journals: Sequence[PostedJournal],
    reversals: Sequence[PostedJournal],
) -> dict[str, Any]:
    """The summary with the id of each batch's journal, and the others the run posted."""
    by_batch = {(j.batch_number, j.currency): j.journal_id for j in journals}
    for batch in summary["batches"]:
        batch["journal"] = by_batch.get((batch["batch_number"], batch["currency"]))
    summary["missing_in_report_journals"] = {
        j.currency: j.journal_id for j in journals if j.batch_number is None
    }
    summary["reversal_journals"] = {j.currency: j.journal_id for j in reversals}
    return summary
