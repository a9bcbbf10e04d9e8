"""A saved card's later charges carry no CVC (the vault forgets it after the first): the
simulator authorizes them like any other card, and still checks the CVC when one is sent."""

from __future__ import annotations

import httpx
import pytest
from simulator_support import authorize

pytestmark = pytest.mark.anyio


def card(number: str, **extra: object) -> dict[str, object]:
    return {"number": number, "exp_month": 12, "exp_year": 2099, **extra}


async def test_a_card_without_cvc_is_authorized(client: httpx.AsyncClient) -> None:
    response = await authorize(client, payment_method=None, card=card("4242424242424242"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["payment_method"]) == ("authorized", "card_visa_4242")


async def test_a_declining_card_without_cvc_is_declined(client: httpx.AsyncClient) -> None:
    response = await authorize(client, payment_method=None, card=card("4000000000000002"))
    assert response.json()["decline"]["code"] == "card_declined"


async def test_a_cvc_that_is_sent_must_still_be_well_formed(client: httpx.AsyncClient) -> None:
    response = await authorize(client, payment_method=None, card=card("4242424242424242", cvc="1"))
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "card[cvc]"
