from __future__ import annotations

import asyncio
import calendar
import contextlib
import csv
import hashlib
import io
import re
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from settlement_support import (
    HEADER,
    amounts,
    close,
    report,
    rows,
    today,
    tomorrow,
)
from simulator_support import authorize, captured_id, post, stats

from psp_simulator import Settings, settlement
from psp_simulator.store import Store

pytestmark = pytest.mark.anyio

DAY_SECONDS = 24 * 3600


async def refund(client: httpx.AsyncClient, authorization_id: str, **body: object) -> str:
    response = await post(client, f"/v1/authorizations/{authorization_id}/refunds", body)
    assert response.status_code == 200, response.text
    refund_id: str = response.json()["id"]
    return refund_id


async def dispute(client: httpx.AsyncClient, authorization_id: str, **body: object) -> str:
    response = await client.post(
        "/admin/disputes", json={"authorization": authorization_id, **body}
    )
    assert response.status_code == 200, response.text
    dispute_id: str = response.json()["id"]
    return dispute_id


async def set_dispute_status(client: httpx.AsyncClient, dispute_id: str, status: str) -> None:
    response = await client.post(f"/admin/disputes/{dispute_id}/status", json={"status": status})
    assert response.status_code == 200, response.text


async def test_every_movement_is_a_line_of_the_report(client: httpx.AsyncClient) -> None:
    started = int(time.time())
    a = (await authorize(client, amount=1000, capture=True, merchant_reference="order_a")).json()
    b = (
        await authorize(
            client, amount=2000, payment_method="pm_card_mastercard", merchant_reference="order_b"
        )
    ).json()
    capture = await post(client, f"/v1/authorizations/{b['id']}/capture", {"amount": 1500})
    assert capture.json()["status"] == "captured"
    c = (
        await authorize(
            client,
            amount=1000,
            currency="jpy",
            merchant_reference="order_c",
            card={"number": "378282246310005", "exp_month": 12, "exp_year": 2099, "cvc": "1234"},
            payment_method=None,
            capture=True,
        )
    ).json()
    refund_id = await refund(client, a["id"], amount=300)
    dispute_id = await dispute(client, b["id"])
    await set_dispute_status(client, dispute_id, "won")

    closed = await close(client)
    assert closed == {"date": today().isoformat(), "batch_number": 1, "lines": 9}
    response = await report(client, today())
    finished = int(time.time())

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["x-report-sha256"] == hashlib.sha256(response.content).hexdigest()
    text = response.content.decode()
    assert text.startswith(HEADER + "\r\n")
    assert text.endswith("\r\n")
    assert text.count("\r\n") == 10
    assert "\n" not in text.replace("\r\n", "")
    table = list(csv.DictReader(io.StringIO(text)))
    assert [amounts(row) for row in table] == [
        ("Settled", a["id"], "USD", "", "10.00", "USD", "", "9.61", "0.39"),
        ("Settled", b["id"], "USD", "", "15.00", "USD", "", "14.54", "0.46"),
        ("Settled", c["id"], "JPY", "", "1000", "JPY", "", "961", "39"),
        ("Refunded", a["id"], "USD", "3.00", "", "USD", "3.00", "", "0.00"),
        ("Chargeback", b["id"], "USD", "15.00", "", "USD", "15.00", "", "0.00"),
        ("Fee", b["id"], "", "", "", "USD", "15.00", "", ""),
        ("ChargebackReversed", b["id"], "USD", "", "15.00", "USD", "", "15.00", "0.00"),
        # 961 yen; and 961 + 1454 - 300 - 1500 - 1500 + 1500 cents.
        ("MerchantPayout", "", "", "", "", "JPY", "961", "", ""),
        ("MerchantPayout", "", "", "", "", "USD", "6.15", "", ""),
    ]
    assert [row["Modification Reference"] for row in table] == [
        a["id"],
        b["id"],
        c["id"],
        refund_id,
        dispute_id,
        dispute_id,
        dispute_id,
        "payout_1",
        "payout_1",
    ]
    assert [row["Merchant Reference"] for row in table] == [
        "order_a",
        "order_b",
        "order_c",
        "order_a",
        "order_b",
        "order_b",
        "order_b",
        "",
        "",
    ]
    assert [row["Payment Method"] for row in table] == [
        "visa",
        "mc",
        "amex",
        "visa",
        "mc",
        "mc",
        "mc",
        "",
        "",
    ]
    for row in table:
        assert (row["Company Account"], row["Merchant Account"]) == (
            "PayplaneSim",
            "PayplaneSimMerchant",
        )
        assert (row["TimeZone"], row["Exchange Rate"], row["Batch Number"]) == ("UTC", "1", "1")
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", row["Creation Date"])
        created = calendar.timegm(time.strptime(row["Creation Date"], "%Y-%m-%d %H:%M:%S"))
        assert started <= created <= finished


async def test_the_report_is_rendered_once_and_served_byte_for_byte(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    authorization_id = await captured_id(client)
    await close(client)
    first = await report(client, today())
    # A discrepancy slipped in behind the API's back: a re-rendered report would show it.
    with contextlib.closing(sqlite3.connect(settings.db_path)) as connection, connection:
        connection.execute(
            "INSERT INTO settlement_discrepancies (date, request) VALUES (?, ?)",
            (
                today().isoformat(),
                f'{{"date": "{today()}", "kind": "missing_line", "psp_reference": '
                f'"{authorization_id}", "type": "Settled"}}',
            ),
        )
    second = await report(client, today())
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert first.headers["x-report-sha256"] == second.headers["x-report-sha256"]
    assert (await client.get("/v1/settlement_reports")).json() == {
        "object": "list",
        "data": [
            {
                "date": today().isoformat(),
                "batch_number": 1,
                "lines": 2,
                "sha256": hashlib.sha256(first.content).hexdigest(),
            }
        ],
        "has_more": False,
    }


async def test_only_committed_movements_are_lines(client: httpx.AsyncClient) -> None:
    kept = await captured_id(client, amount=700)
    # Authorizing, declining and voiding move no money.
    await authorize(client)
    await authorize(client, payment_method="pm_card_visa_chargeDeclined")
    voided = (await authorize(client)).json()["id"]
    await post(client, f"/v1/authorizations/{voided}/void", {})
    # Nor do failed and canceled refunds, inquiries that close, or refused operations.
    await client.post("/admin/refund_behavior", json={"mode": "fail"})
    await refund(client, kept, amount=100)
    await client.post("/admin/refund_behavior", json={"mode": "pending_then_succeed"})
    await post(client, f"/v1/refunds/{await refund(client, kept, amount=100)}/cancel", {})
    inquiry = await dispute(client, kept, inquiry=True)
    await set_dispute_status(client, inquiry, "warning_closed")
    too_much = await post(client, f"/v1/authorizations/{kept}/refunds", {"amount": 701})
    assert too_much.status_code == 400

    assert [amounts(row)[:2] for row in await rows(client, today())] == [
        ("Settled", kept),
        ("MerchantPayout", ""),
    ]


async def test_settling_refunds_and_escalating_inquiries_are_lines(
    client: httpx.AsyncClient,
) -> None:
    authorization_id = await captured_id(client)
    await client.post(
        "/admin/refund_behavior", json={"mode": "pending_then_succeed", "delay_seconds": 0.05}
    )
    refund_id = await refund(client, authorization_id, amount=250)
    inquiry = await dispute(client, authorization_id, inquiry=True, amount=400)
    await set_dispute_status(client, inquiry, "needs_response")
    await set_dispute_status(client, inquiry, "lost")
    await asyncio.sleep(0.1)
    assert (await client.get(f"/v1/refunds/{refund_id}")).json()["status"] == "succeeded"

    table = await rows(client, today())
    assert sorted((row["Type"], row["Modification Reference"]) for row in table[1:-1]) == [
        ("Chargeback", inquiry),
        ("Fee", inquiry),
        ("Refunded", refund_id),
    ]
    chargeback = next(row for row in table if row["Type"] == "Chargeback")
    assert (chargeback["Gross Debit (GC)"], chargeback["Net Debit (NC)"]) == ("4.00", "4.00")


def inject_failure(db_path: Path, table: str) -> None:
    """Make every insert into `table` fail, from outside the app, like a full disk would."""
    with contextlib.closing(sqlite3.connect(db_path)) as connection:
        connection.execute(
            f"CREATE TRIGGER injected_failure BEFORE INSERT ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )


def remove_failure(db_path: Path) -> None:
    with contextlib.closing(sqlite3.connect(db_path)) as connection:
        connection.execute("DROP TRIGGER injected_failure")


async def test_work_rolled_back_after_its_line_leaves_no_line(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    authorized = (await authorize(client)).json()["id"]
    captured = await captured_id(client)
    # Storing the operation's response is the last write of its transaction.
    inject_failure(settings.db_path, "operations")
    with pytest.raises(sqlite3.DatabaseError):
        await post(client, f"/v1/authorizations/{authorized}/capture", {})
    with pytest.raises(sqlite3.DatabaseError):
        await post(client, f"/v1/authorizations/{captured}/refunds", {})
    remove_failure(settings.db_path)

    assert (await client.get(f"/v1/authorizations/{authorized}")).json()["status"] == "authorized"
    assert (await stats(client))["refunds"]["total"] == 0
    assert [amounts(row)[:2] for row in await rows(client, today())] == [
        ("Settled", captured),
        ("MerchantPayout", ""),
    ]


async def test_a_line_that_cannot_be_written_rolls_its_movement_back(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    captured = await captured_id(client)
    inject_failure(settings.db_path, "settlement_lines")
    with pytest.raises(sqlite3.DatabaseError):
        await client.post("/admin/disputes", json={"authorization": captured})
    remove_failure(settings.db_path)

    assert (await stats(client))["disputes"]["total"] == 0
    assert [amounts(row)[:2] for row in await rows(client, today())] == [
        ("Settled", captured),
        ("MerchantPayout", ""),
    ]


async def test_faults_write_lines_only_for_applied_work(client: httpx.AsyncClient) -> None:
    failed = (await authorize(client)).json()["id"]
    dropped = (await authorize(client)).json()["id"]
    await client.post("/admin/faults", json={"error_rate": 1.0, "hang_seconds": 0})
    assert (await post(client, f"/v1/authorizations/{failed}/capture", {})).status_code == 503
    await client.post("/admin/faults", json={"drop_response_rate": 1.0, "hang_seconds": 0})
    assert (await post(client, f"/v1/authorizations/{dropped}/capture", {})).status_code == 504
    await client.post("/admin/reset")
    assert [amounts(row)[:2] for row in await rows(client, today())] == [
        ("Settled", dropped),
        ("MerchantPayout", ""),
    ]


async def test_closing_numbers_batches_and_moves_later_work_to_the_next_day(
    client: httpx.AsyncClient,
) -> None:
    authorization_id = await captured_id(client)
    assert (await client.post("/admin/settlement/close")).json() == {
        "date": today().isoformat(),
        "batch_number": 1,
        "lines": 2,
    }
    # Closing again answers the same; it is the date, not the request, that is closed.
    assert await close(client, today()) == {
        "date": today().isoformat(),
        "batch_number": 1,
        "lines": 2,
    }
    refund_id = await refund(client, authorization_id, amount=300)
    later = tomorrow()
    assert (await report(client, later)).json()["error"]["code"] == "batch_open"

    table = await rows(client, later)
    assert [(row["Type"], row["Modification Reference"], row["Batch Number"]) for row in table] == [
        ("Refunded", refund_id, "2"),
        ("MerchantPayout", "payout_2", "2"),
    ]
    # A batch that pays out less than nothing is owed by the merchant: a net credit.
    assert (table[1]["Net Debit (NC)"], table[1]["Net Credit (NC)"]) == ("", "3.00")
    assert [
        entry["batch_number"]
        for entry in (await client.get("/v1/settlement_reports")).json()["data"]
    ] == [1, 2]
    # Today's report is unaffected by what happened after it closed.
    assert [row["Type"] for row in await rows(client, today())] == ["Settled", "MerchantPayout"]


async def test_open_and_future_dates_have_no_report_yet(client: httpx.AsyncClient) -> None:
    response = await report(client, today())
    assert (response.status_code, response.json()["error"]["code"]) == (409, "batch_open")
    response = await report(client, tomorrow())
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    assert (await client.get("/v1/settlement_reports")).json()["data"] == []


@pytest.mark.parametrize("day", ["2024-1-01", "20240101", "2024-02-30", "yesterday", "2024-01-01x"])
async def test_malformed_dates_are_refused(client: httpx.AsyncClient, day: str) -> None:
    response = await client.get(f"/v1/settlement_reports/{day}")
    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == (
        "parameter_invalid",
        "date",
    )
    response = await client.post("/admin/settlement/close", json={"date": day})
    assert (response.status_code, response.json()["error"]["param"]) == (400, "date")
    assert (await client.get("/v1/settlement_reports")).json()["data"] == []


async def test_a_past_date_closes_when_its_report_is_first_fetched(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    yesterday = today() - timedelta(days=1)
    response = await report(client, yesterday)
    assert response.status_code == 200
    assert response.content == (HEADER + "\r\n").encode()

    # Today's lines, fetched a day later: the report closes the day on its own.
    authorization_id = await captured_id(client)
    other = Store(settings.db_path)
    try:
        a_day_later = int(time.time()) + DAY_SECONDS
        batch = other.transact(lambda tx: settlement.report(tx, today(), a_day_later))
    finally:
        other.close()
    assert batch.batch_number == 2
    fetched = await report(client, today())
    assert fetched.content == batch.report
    assert f"Settled,{authorization_id},USD" in fetched.text
    assert [
        (entry["date"], entry["batch_number"], entry["lines"])
        for entry in (await client.get("/v1/settlement_reports")).json()["data"]
    ] == [(yesterday.isoformat(), 1, 0), (today().isoformat(), 2, 2)]


async def test_reports_need_the_api_key(client: httpx.AsyncClient) -> None:
    await close(client)
    client.headers.pop("Authorization")
    for path in ("/v1/settlement_reports", f"/v1/settlement_reports/{today().isoformat()}"):
        response = await client.get(path)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
    # An unauthorized fetch renders nothing: discrepancies can still be registered.
    registered = await client.post(
        "/admin/settlement/discrepancies",
        json={"date": today().isoformat(), "kind": "payout_mismatch", "delta": 1},
    )
    assert registered.status_code == 200
