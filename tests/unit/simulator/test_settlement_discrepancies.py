from __future__ import annotations

from typing import Any

import httpx
import pytest
from settlement_support import amounts, close, discrepancy, report, rows, today, tomorrow
from simulator_support import captured_id

pytestmark = pytest.mark.anyio


@pytest.fixture
async def captured(client: httpx.AsyncClient) -> tuple[str, str]:
    """Two captures of today: 10.00 USD (fee 0.39) and 20.00 USD (fee 0.53)."""
    return await captured_id(client, amount=1000), await captured_id(client, amount=2000)


async def registered(client: httpx.AsyncClient, **body: object) -> dict[str, Any]:
    response = await discrepancy(client, **body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def payout(table: list[dict[str, str]]) -> tuple[str, ...]:
    assert table[-1]["Type"] == "MerchantPayout"
    return amounts(table[-1])


async def test_a_clean_report(client: httpx.AsyncClient, captured: tuple[str, str]) -> None:
    a, b = captured
    assert [amounts(row) for row in await rows(client, today())] == [
        ("Settled", a, "USD", "", "10.00", "USD", "", "9.61", "0.39"),
        ("Settled", b, "USD", "", "20.00", "USD", "", "19.47", "0.53"),
        ("MerchantPayout", "", "", "", "", "USD", "29.08", "", ""),
    ]


async def test_missing_line(client: httpx.AsyncClient, captured: tuple[str, str]) -> None:
    a, b = captured
    body = await registered(client, kind="missing_line", psp_reference=a)
    assert body == {
        "id": body["id"],
        "date": today().isoformat(),
        "kind": "missing_line",
        "psp_reference": a,
        "type": "Settled",
    }
    table = await rows(client, today())
    assert [row["Psp Reference"] for row in table] == [b, ""]
    # The payout is the sum of the lines the report shows.
    assert payout(table)[6] == "19.47"


async def test_amount_off_by_the_default(
    client: httpx.AsyncClient, captured: tuple[str, str]
) -> None:
    a, _ = captured
    assert (await registered(client, kind="amount_off", psp_reference=a))["delta"] == 3
    table = await rows(client, today())
    # Gross and net move, the commission stays.
    assert amounts(table[0]) == ("Settled", a, "USD", "", "10.03", "USD", "", "9.64", "0.39")
    assert payout(table)[6] == "29.11"


async def test_amount_off_by_a_negative_delta(
    client: httpx.AsyncClient, captured: tuple[str, str]
) -> None:
    _, b = captured
    await registered(client, kind="amount_off", psp_reference=b, delta=-5)
    table = await rows(client, today())
    assert amounts(table[1]) == ("Settled", b, "USD", "", "19.95", "USD", "", "19.42", "0.53")
    assert payout(table)[6] == "29.03"


async def test_currency_mismatch(client: httpx.AsyncClient, captured: tuple[str, str]) -> None:
    a, b = captured
    await registered(client, kind="currency_mismatch", psp_reference=a, currency="EUR")
    table = await rows(client, today())
    assert [amounts(row) for row in table] == [
        ("Settled", a, "EUR", "", "10.00", "EUR", "", "9.61", "0.39"),
        ("Settled", b, "USD", "", "20.00", "USD", "", "19.47", "0.53"),
        ("MerchantPayout", "", "", "", "", "EUR", "9.61", "", ""),
        ("MerchantPayout", "", "", "", "", "USD", "19.47", "", ""),
    ]


async def test_unknown_capture(client: httpx.AsyncClient, captured: tuple[str, str]) -> None:
    body = await registered(client, kind="unknown_capture", amount=500, currency="usd")
    assert body["merchant_reference"] == "unknown"
    unknown = body["psp_reference"]
    assert unknown.startswith("psp_")
    assert unknown not in captured
    assert body["modification_reference"] == unknown
    assert (await client.get(f"/v1/authorizations/{unknown}")).status_code == 404

    table = await rows(client, today())
    assert amounts(table[2]) == ("Settled", unknown, "USD", "", "5.00", "USD", "", "4.68", "0.32")
    assert (table[2]["Merchant Reference"], table[2]["Modification Reference"]) == (
        "unknown",
        unknown,
    )
    assert payout(table)[6] == "33.76"


async def test_duplicate_line(client: httpx.AsyncClient, captured: tuple[str, str]) -> None:
    a, b = captured
    await registered(client, kind="duplicate_line", psp_reference=a)
    table = await rows(client, today())
    assert [row["Psp Reference"] for row in table] == [a, a, b, ""]
    assert table[0] == table[1]
    assert payout(table)[6] == "38.69"


async def test_late_chargeback(client: httpx.AsyncClient, captured: tuple[str, str]) -> None:
    a, _ = captured
    # Settled today: a late chargeback must come in a later batch.
    refused = await discrepancy(client, kind="late_chargeback", psp_reference=a)
    assert (refused.status_code, refused.json()["error"]["param"]) == (400, "psp_reference")
    await close(client, today())

    later = tomorrow().isoformat()
    body = await registered(client, kind="late_chargeback", psp_reference=a, date=later)
    assert body["amount"] == 1000
    dispute_id = body["modification_reference"]
    assert dispute_id.startswith("psd_")
    partial = await registered(
        client, kind="late_chargeback", psp_reference=a, date=later, amount=400
    )
    # Nobody announced them: the PSP has no dispute to show.
    assert (await client.get(f"/v1/disputes/{dispute_id}")).status_code == 404
    assert (await client.get("/v1/disputes")).json()["data"] == []

    table = await rows(client, tomorrow())
    assert [amounts(row) for row in table] == [
        ("Chargeback", a, "USD", "10.00", "", "USD", "10.00", "", "0.00"),
        ("Chargeback", a, "USD", "4.00", "", "USD", "4.00", "", "0.00"),
        ("MerchantPayout", "", "", "", "", "USD", "", "14.00", ""),
    ]
    assert [row["Modification Reference"] for row in table[:2]] == [
        dispute_id,
        partial["modification_reference"],
    ]
    assert table[0]["Merchant Reference"] == "order_1"


@pytest.mark.usefixtures("captured")
async def test_payout_mismatch(client: httpx.AsyncClient) -> None:
    await registered(client, kind="payout_mismatch", delta=7)
    eur = await captured_id(client, amount=1000)
    await registered(client, kind="currency_mismatch", psp_reference=eur, currency="eur")
    await registered(client, kind="payout_mismatch", delta=-2, currency="usd")
    table = await rows(client, today())
    assert [amounts(row)[5:7] for row in table[-2:]] == [("EUR", "9.68"), ("USD", "29.13")]


async def test_discrepancies_apply_in_order_and_are_listed(
    client: httpx.AsyncClient, captured: tuple[str, str]
) -> None:
    a, b = captured
    first = await registered(client, kind="missing_line", psp_reference=a)
    # Its line is gone by the time this one applies: it changes nothing.
    second = await registered(client, kind="amount_off", psp_reference=a, delta=1)
    elsewhere = await registered(
        client, kind="payout_mismatch", delta=1, date=tomorrow().isoformat()
    )
    listed = await client.get(
        "/admin/settlement/discrepancies", params={"date": today().isoformat()}
    )
    assert listed.json() == {"object": "list", "data": [first, second], "has_more": False}
    everything = (await client.get("/admin/settlement/discrepancies")).json()["data"]
    assert everything == [first, second, elsewhere]
    assert [row["Psp Reference"] for row in await rows(client, today())] == [b, ""]
    bad = await client.get("/admin/settlement/discrepancies", params={"date": "2024-02-30"})
    assert (bad.status_code, bad.json()["error"]["param"]) == (400, "date")


async def test_discrepancies_may_follow_the_close_until_the_report_is_rendered(
    client: httpx.AsyncClient, captured: tuple[str, str]
) -> None:
    a, _ = captured
    await close(client, today())
    await registered(client, kind="duplicate_line", psp_reference=a)
    first = await report(client, today())
    # Header, the line twice, the other capture, the payout.
    assert first.text.count("\r\n") == 5

    refused = await discrepancy(client, kind="missing_line", psp_reference=a)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "report_already_rendered"
    assert len((await client.get("/admin/settlement/discrepancies")).json()["data"]) == 1
    assert (await report(client, today())).content == first.content


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"kind": "missing_line", "date": "2024-13-01"}, "parameter_invalid", "date"),
        ({"kind": "payout_mismatch", "delta": 1, "date": None}, "parameter_invalid", "date"),
        ({"kind": "no_such_kind"}, "parameter_invalid", "kind"),
        ({"kind": 3}, "parameter_invalid", "kind"),
        ({}, "parameter_missing", "kind"),
        (
            {"kind": "missing_line", "psp_reference": "psp_nobody"},
            "parameter_invalid",
            "psp_reference",
        ),
        (
            {"kind": "missing_line", "psp_reference": "A", "type": "Refunded"},
            "parameter_invalid",
            "psp_reference",
        ),
        (
            {"kind": "missing_line", "psp_reference": "A", "type": "Payout"},
            "parameter_invalid",
            "type",
        ),
        ({"kind": "amount_off", "psp_reference": "A", "delta": 0}, "parameter_invalid", "delta"),
        ({"kind": "amount_off", "psp_reference": "A", "delta": "3"}, "parameter_invalid", "delta"),
        (
            {"kind": "currency_mismatch", "psp_reference": "A", "currency": "USD"},
            "parameter_invalid",
            "currency",
        ),
        ({"kind": "currency_mismatch", "psp_reference": "A"}, "parameter_missing", "currency"),
        (
            {"kind": "unknown_capture", "amount": 0, "currency": "usd"},
            "parameter_invalid",
            "amount",
        ),
        (
            {"kind": "unknown_capture", "amount": 5, "currency": "dollars"},
            "parameter_invalid",
            "currency",
        ),
        ({"kind": "late_chargeback", "psp_reference": "A"}, "parameter_invalid", "psp_reference"),
        ({"kind": "payout_mismatch"}, "parameter_missing", "delta"),
        ({"kind": "payout_mismatch", "delta": 1, "extra": 1}, "parameter_unknown", "extra"),
    ],
)
async def test_bad_discrepancies_store_nothing(
    client: httpx.AsyncClient,
    captured: tuple[str, str],
    body: dict[str, object],
    code: str,
    param: str,
) -> None:
    if body.get("psp_reference") == "A":
        body["psp_reference"] = captured[0]
    response = await discrepancy(client, **body)
    assert response.status_code == 400, response.text
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == (code, param)
    assert (await client.get("/admin/settlement/discrepancies")).json()["data"] == []
    assert len(await rows(client, today())) == 3


async def test_a_late_chargeback_cannot_exceed_the_capture(
    client: httpx.AsyncClient, captured: tuple[str, str]
) -> None:
    await close(client, today())
    response = await discrepancy(
        client,
        kind="late_chargeback",
        psp_reference=captured[0],
        amount=1001,
        date=tomorrow().isoformat(),
    )
    assert (response.status_code, response.json()["error"]["code"]) == (400, "amount_too_large")
    assert (await client.get("/admin/settlement/discrepancies")).json()["data"] == []
