"""The PSP simulator's settlement details reports: GET /v1/settlement_reports/{date} (see
psp_simulator's docstring), with the simulator's API key."""

from __future__ import annotations

import hashlib
from datetime import date

import httpx

from payplane.domain.settlement import SettlementReportUnavailable

# A million-line report is ~200 MB: allow it far longer than a payment call.
REPORT_TIMEOUT_SECONDS = 120.0


class SimulatorSettlementReports:
    def __init__(self, base_url: str, api_key: str, *, connect_timeout: float) -> None:
        self._base_url = base_url
        self._api_key = api_key
        self._timeout = httpx.Timeout(REPORT_TIMEOUT_SECONDS, connect=connect_timeout)

    async def fetch(self, day: date) -> bytes:
        # A client per fetch: reports are fetched once a day, and nothing is left to close.
        async with httpx.AsyncClient(
            base_url=self._base_url,
            headers={"Authorization": f"Bearer {self._api_key}"},
            timeout=self._timeout,
        ) as client:
            try:
                response = await client.get(f"/v1/settlement_reports/{day.isoformat()}")
            except httpx.HTTPError as exc:
                raise SettlementReportUnavailable(
                    f"The PSP could not be reached for its report of {day}: "
                    f"{type(exc).__name__}. Nothing was stored or posted."
                ) from exc
        if response.status_code != 200:
            raise SettlementReportUnavailable(
                f"The PSP answered {response.status_code} for its report of {day}"
                f"{_error_of(response)}. Nothing was stored or posted."
            )
        expected = response.headers.get("x-report-sha256")
        if expected is not None and hashlib.sha256(response.content).hexdigest() != expected:
            raise SettlementReportUnavailable(
                f"The PSP's report of {day} does not match its X-Report-Sha256: it was damaged "
                "on the way. Nothing was stored or posted."
            )
        return response.content


def _error_of(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return ""
    if not isinstance(error, dict) or not error.get("message"):
        return ""
    return f" ({error.get('code')}: {error['message']})"
