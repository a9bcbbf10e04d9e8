"""Settlement use cases: close a day's batch, publish its report once, inject discrepancies.

Each runs inside one store transaction; `now` is unix seconds, so tests can move the clock.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import date

from psp_simulator import settlement_csv
from psp_simulator.errors import ApiError
from psp_simulator.settlement_discrepancies import Discrepancy, apply, check, parse_stored, to_json
from psp_simulator.settlement_lines import net_by_currency
from psp_simulator.settlement_rows import Batch, utc_date
from psp_simulator.store import Transaction


def close(tx: Transaction, day: date, now: int) -> Batch:
    """Close `day` as the next batch, or answer the batch it already is."""
    batch = tx.settlement.batch(day)
    if batch is not None:
        return batch
    lines = tx.settlement.lines(day)
    # One MerchantPayout line per currency joins the movements in the report.
    return tx.settlement.close(day, len(lines) + len(net_by_currency(lines)), now)


def report(tx: Transaction, day: date, now: int) -> Batch:
    """The batch of `day` with its report, rendered and stored by the first fetch.

    A past day closes on its first fetch; today and later stay open until closed by the operator.
    """
    batch = tx.settlement.batch(day)
    if batch is None:
        today = utc_date(now)
        if day > today and not tx.settlement.lines(day):
            raise ApiError(404, "not_found", f"No settlement batch for {day}.")
        if day >= today:
            raise ApiError(
                409,
                "batch_open",
                f"The batch of {day} is still open: its report exists once it is closed.",
            )
        batch = close(tx, day, now)
    if batch.report is not None:
        return batch
    discrepancies = [
        (parse_stored(stored.request), stored.line) for stored in tx.settlement.discrepancies(day)
    ]
    lines = apply(tx.settlement.lines(day), discrepancies, batch.batch_number, batch.closed_at)
    body = settlement_csv.render(lines, batch.batch_number)
    sha256 = hashlib.sha256(body).hexdigest()
    tx.settlement.store_report(day, body, sha256)
    return dataclasses.replace(batch, report=body, sha256=sha256)


def register_discrepancy(tx: Transaction, discrepancy: Discrepancy, now: int) -> dict[str, object]:
    batch = tx.settlement.batch(discrepancy.date)
    if batch is not None and batch.report is not None:
        raise ApiError(
            400,
            "report_already_rendered",
            f"The report of {discrepancy.date} was already published; it never changes.",
            "date",
        )
    complete, line = check(tx.settlement, discrepancy, now)
    discrepancy_id = tx.settlement.add_discrepancy(
        discrepancy.date, complete.model_dump_json(), line
    )
    return to_json(discrepancy_id, complete, line)


def discrepancies(tx: Transaction, day: date | None) -> list[dict[str, object]]:
    return [
        to_json(stored.id, parse_stored(stored.request), stored.line)
        for stored in tx.settlement.discrepancies(day)
    ]
