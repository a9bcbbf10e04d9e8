from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import httpx
import pytest
from settlement_support import amounts, rows, set_fees, today
from simulator_support import captured_id

from psp_simulator.currencies import to_decimal
from psp_simulator.fees import FeeRate, commission

DEFAULTS = {
    "card": {"bps": 140, "fixed": 25},
    "wallet": {"bps": 290, "fixed": 30},
    "bank_redirect": {"bps": 0, "fixed": 29},
    "bank_debit": {"bps": 0, "fixed": 35},
}


@pytest.mark.parametrize(
    ("amount", "bps", "fixed", "expected"),
    [
        (1000, 140, 25, 39),
        (1250, 140, 25, 43),  # 17.5 rounds up
        (1249, 140, 25, 42),  # 17.486 rounds down
        (1251, 140, 25, 43),
        (1, 140, 25, 25),
        (500, 10, 0, 1),  # exactly half
        (499, 10, 0, 0),
        (150, 290, 30, 34),  # 4.35
        (99_999_999, 10_000, 0, 99_999_999),
        (99_999_999, 290, 30, 2_900_030),  # 2899999.971
        (1000, 0, 29, 29),
    ],
)
def test_commission_rounds_half_up_in_integers(
    amount: int, bps: int, fixed: int, expected: int
) -> None:
    assert commission(amount, FeeRate(bps=bps, fixed=fixed)) == expected


def test_commission_agrees_with_decimal_half_up() -> None:
    for bps in (1, 7, 140, 290, 333, 9999):
        for amount in range(1, 3000):
            exact = (Decimal(amount) * bps / 10_000).quantize(Decimal(1), ROUND_HALF_UP)
            assert commission(amount, FeeRate(bps=bps, fixed=5)) == 5 + int(exact)


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (1000, "usd", "10.00"),
        (1000, "EUR", "10.00"),
        (5, "usd", "0.05"),
        (0, "usd", "0.00"),
        (-150, "usd", "-1.50"),
        (1000, "jpy", "1000"),
        (1000, "kwd", "1.000"),
        (1, "bhd", "0.001"),
        (12345, "clf", "1.2345"),
        (99_999_999, "gbp", "999999.99"),
        # Not in ISO 4217: two decimals, like most currencies.
        (1000, "xyz", "10.00"),
    ],
)
def test_amounts_are_decimals_with_the_currency_exponent(
    amount: int, currency: str, text: str
) -> None:
    assert to_decimal(amount, currency) == text


@pytest.mark.anyio
async def test_the_schedule_is_replaced_and_applies_from_then_on(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/admin/fees")).json() == DEFAULTS
    before = await captured_id(client, amount=1000)
    await set_fees(client, card={"bps": 100, "fixed": 10})
    # The whole schedule is replaced: what is not given goes back to its default.
    assert (await client.get("/admin/fees")).json() == {
        **DEFAULTS,
        "card": {"bps": 100, "fixed": 10},
    }
    after = await captured_id(client, amount=1000)
    await client.post("/admin/reset")
    assert (await client.get("/admin/fees")).json()["card"] == {"bps": 100, "fixed": 10}

    table = await rows(client, today())
    assert [amounts(row) for row in table[:2]] == [
        ("Settled", before, "USD", "", "10.00", "USD", "", "9.61", "0.39"),
        ("Settled", after, "USD", "", "10.00", "USD", "", "9.80", "0.20"),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"card": {"bps": -1, "fixed": 0}}, "parameter_invalid", "card[bps]"),
        ({"card": {"bps": 10_001, "fixed": 0}}, "parameter_invalid", "card[bps]"),
        ({"card": {"bps": "140", "fixed": 25}}, "parameter_invalid", "card[bps]"),
        ({"card": {"bps": 140}}, "parameter_missing", "card[fixed]"),
        ({"crypto": {"bps": 1, "fixed": 1}}, "parameter_unknown", "crypto"),
    ],
)
async def test_bad_schedules_change_nothing(
    client: httpx.AsyncClient, body: dict[str, object], code: str, param: str
) -> None:
    response = await client.post("/admin/fees", json=body)
    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == (code, param)
    assert (await client.get("/admin/fees")).json() == DEFAULTS
