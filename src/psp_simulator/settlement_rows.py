"""SQLite rows of settlement: lines, closed batches with their reports, discrepancies, fees.

Lines are written through a Transaction by the same writes that move the money, so a committed
movement always has its line and a rolled back one never does. Recording is keyed on the movement
(type, modification reference), so saving the same state again records nothing twice.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson

from psp_simulator import settlement_lines
from psp_simulator.fees import FeeSchedule, commission
from psp_simulator.models import Authorization, Dispute, DisputeStatus, Refund
from psp_simulator.settlement_lines import SettlementLine

SCHEMA = """
CREATE TABLE IF NOT EXISTS settlement_lines (
    id INTEGER PRIMARY KEY,
    business_date TEXT NOT NULL,
    type TEXT NOT NULL CHECK (type IN (
        'Settled', 'Refunded', 'Chargeback', 'ChargebackReversed', 'Fee'
    )),
    psp_reference TEXT NOT NULL,
    merchant_reference TEXT NOT NULL,
    payment_method TEXT NOT NULL,
    modification_reference TEXT NOT NULL,
    currency TEXT NOT NULL,
    gross_debit INTEGER,
    gross_credit INTEGER,
    net_debit INTEGER,
    net_credit INTEGER,
    commission INTEGER,
    created INTEGER NOT NULL,
    UNIQUE (type, modification_reference)
);
CREATE INDEX IF NOT EXISTS settlement_lines_by_date
    ON settlement_lines (business_date, created, id);
CREATE INDEX IF NOT EXISTS settlement_lines_by_psp_reference
    ON settlement_lines (psp_reference);
CREATE TABLE IF NOT EXISTS settlement_batches (
    date TEXT PRIMARY KEY,
    batch_number INTEGER NOT NULL UNIQUE,
    lines INTEGER NOT NULL,
    closed_at INTEGER NOT NULL,
    report BLOB,
    sha256 TEXT
);
CREATE TABLE IF NOT EXISTS settlement_discrepancies (
    id INTEGER PRIMARY KEY,
    date TEXT NOT NULL,
    request TEXT NOT NULL,
    line TEXT
);
CREATE TABLE IF NOT EXISTS fee_schedule (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    schedule TEXT NOT NULL
);
"""

_LINE_COLUMNS = (
    "type, psp_reference, merchant_reference, payment_method, modification_reference, currency, "
    "gross_debit, gross_credit, net_debit, net_credit, commission, created"
)
_BATCH_COLUMNS = "date, batch_number, lines, closed_at, report, sha256"
# A dispute in any of these is (or was) a chargeback: an inquiry gets here only by escalating.
_CHARGEBACK_STATUSES: frozenset[DisputeStatus] = frozenset(
    {"needs_response", "under_review", "won", "lost"}
)


def utc_date(seconds: float) -> date:
    return datetime.fromtimestamp(seconds, UTC).date()


@dataclass(frozen=True, slots=True)
class Batch:
    date: date
    batch_number: int
    lines: int
    closed_at: int
    report: bytes | None
    sha256: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "date": self.date.isoformat(),
            "batch_number": self.batch_number,
            "lines": self.lines,
            "sha256": self.sha256,
        }


@dataclass(frozen=True, slots=True)
class StoredDiscrepancy:
    id: int
    request: str
    # The line it adds to the report, built when it was registered; None for the other kinds.
    line: SettlementLine | None


class SettlementRows:
    def __init__(
        self,
        connection: sqlite3.Connection,
        authorization_of: Callable[[str], Authorization | None],
    ) -> None:
        self._connection = connection
        self._authorization_of = authorization_of

    def authorization_saved(self, authorization: Authorization) -> None:
        if authorization.status != "captured":
            return
        rate = self.fee_schedule().rate(settlement_lines.product_of(authorization))
        fee = commission(authorization.captured_amount, rate)
        self._record(settlement_lines.settled(authorization, fee, int(time.time())))

    def refund_saved(self, refund: Refund) -> None:
        if refund.status != "succeeded":
            return
        authorization = self._authorization(refund.authorization_id)
        self._record(settlement_lines.refunded(authorization, refund, int(time.time())))

    def dispute_saved(self, dispute: Dispute) -> None:
        if dispute.status not in _CHARGEBACK_STATUSES:
            return
        authorization = self._authorization(dispute.authorization_id)
        now = int(time.time())
        self._record(settlement_lines.chargeback(authorization, dispute, now))
        if dispute.fee:
            self._record(settlement_lines.chargeback_fee(authorization, dispute, now))
        if dispute.status == "won":
            self._record(settlement_lines.chargeback_reversed(authorization, dispute, now))

    def lines(self, day: date) -> list[SettlementLine]:
        """The batch's movement lines in report order."""
        rows = self._connection.execute(
            f"SELECT {_LINE_COLUMNS} FROM settlement_lines "  # noqa: S608 - constant columns
            "WHERE business_date = ? ORDER BY created, id",
            (day.isoformat(),),
        ).fetchall()
        return [SettlementLine(*row) for row in rows]

    def settled_on(self, psp_reference: str) -> tuple[date, SettlementLine] | None:
        """The business date and line of an authorization's capture, if it was captured."""
        row = self._connection.execute(
            f"SELECT business_date, {_LINE_COLUMNS} FROM settlement_lines "  # noqa: S608
            "WHERE type = 'Settled' AND modification_reference = ?",
            (psp_reference,),
        ).fetchone()
        return None if row is None else (date.fromisoformat(row[0]), SettlementLine(*row[1:]))

    def batch(self, day: date) -> Batch | None:
        row = self._connection.execute(
            f"SELECT {_BATCH_COLUMNS} FROM settlement_batches WHERE date = ?",  # noqa: S608
            (day.isoformat(),),
        ).fetchone()
        return None if row is None else _batch(row)

    def batches(self) -> list[Batch]:
        rows = self._connection.execute(
            f"SELECT {_BATCH_COLUMNS} FROM settlement_batches ORDER BY date"  # noqa: S608
        ).fetchall()
        return [_batch(row) for row in rows]

    def close(self, day: date, lines: int, closed_at: int) -> Batch:
        """Close `day` as the next batch; later movements go to the next open date."""
        (batch_number,) = self._connection.execute(
            "SELECT COALESCE(MAX(batch_number), 0) + 1 FROM settlement_batches"
        ).fetchone()
        self._connection.execute(
            "INSERT INTO settlement_batches (date, batch_number, lines, closed_at) "
            "VALUES (?, ?, ?, ?)",
            (day.isoformat(), batch_number, lines, closed_at),
        )
        return Batch(day, batch_number, lines, closed_at, None, None)

    def store_report(self, day: date, report: bytes, sha256: str) -> None:
        self._connection.execute(
            "UPDATE settlement_batches SET report = ?, sha256 = ? WHERE date = ?",
            (report, sha256, day.isoformat()),
        )

    def add_discrepancy(self, day: date, request: str, line: SettlementLine | None) -> int:
        (discrepancy_id,) = self._connection.execute(
            "INSERT INTO settlement_discrepancies (date, request, line) VALUES (?, ?, ?) "
            "RETURNING id",
            (day.isoformat(), request, None if line is None else orjson.dumps(line).decode()),
        ).fetchone()
        assert isinstance(discrepancy_id, int)
        return discrepancy_id

    def discrepancies(self, day: date | None) -> list[StoredDiscrepancy]:
        """In registration order: the order they are applied in."""
        rows = self._connection.execute(
            "SELECT id, request, line FROM settlement_discrepancies "
            "WHERE ?1 IS NULL OR date = ?1 ORDER BY id",
            (None if day is None else day.isoformat(),),
        ).fetchall()
        return [
            StoredDiscrepancy(
                row[0], row[1], None if row[2] is None else SettlementLine(**orjson.loads(row[2]))
            )
            for row in rows
        ]

    def fee_schedule(self) -> FeeSchedule:
        row = self._connection.execute("SELECT schedule FROM fee_schedule").fetchone()
        return FeeSchedule() if row is None else FeeSchedule.model_validate_json(row[0])

    def set_fee_schedule(self, schedule: FeeSchedule) -> None:
        self._connection.execute(
            "INSERT INTO fee_schedule (id, schedule) VALUES (1, ?) "
            "ON CONFLICT (id) DO UPDATE SET schedule = excluded.schedule",
            (schedule.model_dump_json(),),
        )

    def _authorization(self, authorization_id: str) -> Authorization:
        authorization = self._authorization_of(authorization_id)
        assert authorization is not None, authorization_id
        return authorization

    def _record(self, line: SettlementLine) -> None:
        self._connection.execute(
            f"INSERT INTO settlement_lines (business_date, {_LINE_COLUMNS}) "  # noqa: S608
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (type, modification_reference) DO NOTHING",
            (self._open_date(utc_date(line.created)).isoformat(), *dataclasses.astuple(line)),
        )

    def _open_date(self, day: date) -> date:
        """The earliest date from `day` on whose batch is still open."""
        closed = {
            row[0]
            for row in self._connection.execute(
                "SELECT date FROM settlement_batches WHERE date >= ?", (day.isoformat(),)
            )
        }
        while day.isoformat() in closed:
            day += timedelta(days=1)
        return day


def _batch(row: tuple[Any, ...]) -> Batch:
    report = None if row[4] is None else bytes(row[4])
    return Batch(date.fromisoformat(row[0]), row[1], row[2], row[3], report, row[5])
