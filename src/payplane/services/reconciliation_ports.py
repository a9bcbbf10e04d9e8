"""Ports of reconciliation and remediation: where settlement reports come from, and the stores
that match them against the ledger set-based and keep the remediation queue.

Kept apart from services/ports.py (which the UnitOfWork port ties together) so each stays small.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from payplane.domain.ledger import Balance, SettlementTotals
from payplane.domain.remediation import BreakType, ItemStatus
from payplane.domain.settlement import ReportLine

if TYPE_CHECKING:  # ports.py imports this module for the UnitOfWork port
    from payplane.services.ports import ListQuery, Page


class SettlementReports(Protocol):
    """One PSP account's daily settlement details reports."""

    async def fetch(self, day: date) -> bytes:
        """The report's exact bytes; SettlementReportUnavailable if the PSP cannot give it."""
        ...


@dataclass(frozen=True, slots=True)
class Source:
    """A PSP account whose report covers the payments of `connectors`."""

    name: str
    connectors: tuple[str, ...]
    reports: SettlementReports


@dataclass(frozen=True, slots=True)
class FeeRate:
    """Commission = fixed + amount * bps / 10000 rounded half up, in minor units."""

    bps: int
    fixed: int


@dataclass(frozen=True, slots=True)
class BatchTotals:
    batch_number: int | None  # None: movements missing from every report so far
    totals: SettlementTotals


@dataclass(frozen=True, slots=True)
class PostedJournal:
    journal_id: str
    purpose: str  # settlement | missing_in_report | supersede
    currency: str
    batch_number: int | None = None


@dataclass(frozen=True, slots=True)
class NewRun:
    id: str
    source: str
    day: date
    connectors: tuple[str, ...]
    report_id: str
    sha256: str
    actor: str
    summary: dict[str, Any]
    created: int
    supersedes: str | None = None


class Reconciliations(Protocol):
    """Runs and the set-based matching of one report, within the unit of work's transaction.

    `classify` prepares the run's working set; the totals, summary and `record` read it, so
    they are called after it, in the same transaction.
    """

    async def lock(self, source: str) -> None:
        """Serialize runs of one source (until the transaction ends), whichever process runs."""
        ...

    async def current_run(self, source: str, day: date) -> dict[str, Any] | None: ...
    async def store_report(
        self, source: str, day: date, sha256: str, body: bytes, lines: Iterable[ReportLine]
    ) -> str:
        """The report's id; stored with its lines (consumed as they come: a MalformedReport
        raised by them leaves the transaction to roll back) unless these bytes already are."""
        ...

    async def classify(
        self,
        report_id: str,
        day: date,
        connectors: Sequence[str],
        fees: Mapping[str, FeeRate],
        products: Mapping[str, str],
    ) -> None: ...
    async def batch_totals(self, source: str) -> list[BatchTotals]:
        """Per batch and currency, then the movements no report has confirmed, per currency."""
        ...

    async def summary(self) -> dict[str, Any]: ...
    async def add_run(self, run: NewRun) -> None: ...
    async def record(self, run: NewRun, journals: Sequence[PostedJournal]) -> None:
        """Link the journals, record the matches, open an item per break and auto-resolve the
        timing breaks this report settles."""
        ...

    async def supersede(self, run: dict[str, Any], new_run_id: str) -> list[Balance]:
        """Take `run` out of effect: what its journals posted (to reverse), after refusing with
        UnexpectedState when that would undo an operator's work or a later date's run."""
        ...

    async def finish_supersede(
        self, old_run_id: str, new_run_id: str, reversals: Sequence[PostedJournal]
    ) -> None: ...
    async def get_run(self, run_id: str) -> dict[str, Any]: ...
    async def list_runs(self, query: ListQuery) -> Page: ...


@dataclass(slots=True)
class RemediationItem:
    """What acting on an item needs; the API object is RemediationItems.render's."""

    id: str
    run_id: str
    type: BreakType
    status: ItemStatus
    merchant_id: str | None
    payment_intent_id: str | None
    suspense: list[Balance]
    attempt_id: str | None = None
    assignee: str | None = None
    explanation: str | None = None
    amount: int | None = None
    currency: str | None = None
    movement_kind: str | None = None
    movement_id: str | None = None
    report_id: str | None = None
    line_no: int | None = None


class RemediationItems(Protocol):
    async def get(self, item_id: str, *, lock: bool = False) -> RemediationItem: ...
    async def save(self, item: RemediationItem) -> None:
        """Status, assignee and explanation: nothing else of an item changes."""
        ...

    async def add_note(self, item_id: str, actor: str, text: str) -> None: ...
    async def link_journal(self, item_id: str, journal_id: str, purpose: str) -> None: ...
    async def record_match(self, item: RemediationItem) -> None:
        """The line of `item` settles the movement it names (a capture found late)."""
        ...

    async def render(self, item_id: str) -> dict[str, Any]: ...
    async def for_run(self, run_id: str) -> list[dict[str, Any]]: ...
    async def awaiting_psp(self, source: str) -> Sequence[RemediationItem]:
        """The source's open missing_internally items about a payment whose attempt was open
        when the report came (in doubt still, or closed since)."""
        ...

    async def list(self, query: ListQuery) -> Page: ...
    async def escalate_unresolved(
        self, *, min_checks: int, max_wait_seconds: float, limit: int
    ) -> Sequence[RemediationItem]:
        """Open one unresolved_payment item per PSP call the PSP could not account for: in doubt
        after `min_checks` status checks, or waiting for a result longer than max_wait_seconds."""
        ...

    async def settle_unresolved(self, *, limit: int) -> Sequence[RemediationItem]:
        """Auto-resolve unresolved_payment items whose call the PSP has answered since."""
        ...
