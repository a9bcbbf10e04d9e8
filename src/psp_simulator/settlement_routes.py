"""Settlement over HTTP: reports under /v1 (API key), batches, discrepancies and fees under /admin.

Both routers are included by the /v1 and /admin routers, which add the prefix and, for /v1, the
API key check.
"""

from __future__ import annotations

import time
from datetime import date

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict

from psp_simulator import settlement
from psp_simulator.errors import ApiError, json_response
from psp_simulator.fees import FeeSchedule
from psp_simulator.operations import decode_body
from psp_simulator.payloads import parse
from psp_simulator.settlement_discrepancies import KINDS
from psp_simulator.settlement_lines import Day, parse_day
from psp_simulator.settlement_rows import utc_date
from psp_simulator.store import Store

CSV = "text/csv; charset=utf-8"


class CloseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Default: today (UTC).
    date: Day | None = None


class DiscrepancyQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    date: Day | None = None


def build_report_router(store: Store) -> APIRouter:
    router = APIRouter()

    @router.get("/settlement_reports")
    async def list_reports() -> Response:
        batches = store.transact(lambda tx: tx.settlement.batches())
        return _list([batch.to_json() for batch in batches])

    @router.get("/settlement_reports/{day}")
    async def get_report(day: str) -> Response:
        requested = _path_day(day)
        batch = store.transact(lambda tx: settlement.report(tx, requested, int(time.time())))
        assert batch.report is not None
        assert batch.sha256 is not None
        return Response(batch.report, media_type=CSV, headers={"X-Report-Sha256": batch.sha256})

    return router


def build_admin_router(store: Store) -> APIRouter:
    router = APIRouter()

    @router.post("/settlement/close")
    async def close_batch(request: Request) -> Response:
        command = parse(CloseRequest, decode_body(await request.body()))
        now = int(time.time())
        day = utc_date(now) if command.date is None else command.date
        batch = store.transact(lambda tx: settlement.close(tx, day, now))
        return json_response(
            200,
            {
                "date": batch.date.isoformat(),
                "batch_number": batch.batch_number,
                "lines": batch.lines,
            },
        )

    @router.post("/settlement/discrepancies")
    async def add_discrepancy(request: Request) -> Response:
        payload = decode_body(await request.body())
        kind = payload.get("kind")
        if kind is None:
            raise ApiError(400, "parameter_missing", "Missing required param: kind.", "kind")
        if not isinstance(kind, str) or kind not in KINDS:
            raise ApiError(
                400,
                "parameter_invalid",
                f"Invalid kind: must be one of {', '.join(KINDS)}.",
                "kind",
            )
        discrepancy = parse(KINDS[kind], payload)
        registered = store.transact(
            lambda tx: settlement.register_discrepancy(tx, discrepancy, int(time.time()))
        )
        return json_response(200, registered)

    @router.get("/settlement/discrepancies")
    async def list_discrepancies(request: Request) -> Response:
        query = parse(DiscrepancyQuery, dict(request.query_params))
        return _list(store.transact(lambda tx: settlement.discrepancies(tx, query.date)))

    @router.get("/fees")
    async def get_fees() -> Response:
        schedule = store.transact(lambda tx: tx.settlement.fee_schedule())
        return json_response(200, schedule.model_dump())

    @router.post("/fees")
    async def set_fees(request: Request) -> Response:
        # Replaces the whole schedule: omitted products go back to their defaults.
        schedule = parse(FeeSchedule, decode_body(await request.body()))
        store.transact(lambda tx: tx.settlement.set_fee_schedule(schedule))
        return json_response(200, schedule.model_dump())

    return router


def _path_day(text: str) -> date:
    try:
        return parse_day(text)
    except ValueError as exc:
        raise ApiError(400, "parameter_invalid", f"Invalid date: {exc}", "date") from None


def _list(data: list[dict[str, object]]) -> Response:
    return json_response(200, {"object": "list", "data": data, "has_more": False})
