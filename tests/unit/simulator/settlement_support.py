"""Helpers shared by the settlement tests: batches, reports as rows, discrepancies."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

HEADER = (
    "Company Account,Merchant Account,Psp Reference,Merchant Reference,Payment Method,"
    "Creation Date,TimeZone,Type,Modification Reference,Gross Currency,Gross Debit (GC),"
    "Gross Credit (GC),Exchange Rate,Net Currency,Net Debit (NC),Net Credit (NC),"
    "Commission (NC),Batch Number"
)
# The columns whose values a test states; the rest are checked once, in the report test.
AMOUNTS = (
    "Type",
    "Psp Reference",
    "Gross Currency",
    "Gross Debit (GC)",
    "Gross Credit (GC)",
    "Net Currency",
    "Net Debit (NC)",
    "Net Credit (NC)",
    "Commission (NC)",
)


def today() -> date:
    return datetime.now(UTC).date()


def tomorrow() -> date:
    return today() + timedelta(days=1)


async def close(client: httpx.AsyncClient, day: date | None = None) -> dict[str, Any]:
    body = {} if day is None else {"date": day.isoformat()}
    response = await client.post("/admin/settlement/close", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def report(client: httpx.AsyncClient, day: date) -> httpx.Response:
    return await client.get(f"/v1/settlement_reports/{day.isoformat()}")


async def rows(client: httpx.AsyncClient, day: date) -> list[dict[str, str]]:
    """The report of `day` (closing it first) as one dict per data row."""
    await close(client, day)
    response = await report(client, day)
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def amounts(row: dict[str, str]) -> tuple[str, ...]:
    return tuple(row[column] for column in AMOUNTS)


async def discrepancy(client: httpx.AsyncClient, **body: object) -> httpx.Response:
    body.setdefault("date", today().isoformat())
    return await client.post("/admin/settlement/discrepancies", json=body)


async def set_fees(client: httpx.AsyncClient, **schedule: object) -> None:
    response = await client.post("/admin/fees", json=schedule)
    assert response.status_code == 200, response.text
