"""Saved cards: the vault's tokens told apart from test tokens, the core's PaymentMethod object,
attach and detach, and how the card connector forwards through the vault and reads its answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from payplane.adapters.psp.resilience import Resilience
from payplane.adapters.psp.simulator import VAULT_FORWARD_PATH, SimulatorConnector
from payplane.domain.errors import UnexpectedState
from payplane.domain.payment_method import is_vault_token, type_of
from payplane.domain.saved_card import SavedCard
from payplane.services.ports import PspOutcome, PspResult

TOKEN = "pm_" + "Ab3" * 8
# A vault token's random letters may spell a test token's prefix: it is a card all the same.
PAYPAL_LOOKING = "pm_paypal" + "X" * 18


@pytest.mark.parametrize(
    ("token", "saved"),
    [
        (TOKEN, True),
        (PAYPAL_LOOKING, True),
        ("pm_card_visa", False),
        ("pm_card_threeDSecure2Required", False),
        ("pm_" + "A" * 23, False),
        ("pm_" + "A" * 25, False),
        ("pm_" + "A" * 23 + "_", False),
    ],
)
def test_vault_tokens_are_told_apart_from_test_tokens(token: str, saved: bool) -> None:
    assert is_vault_token(token) is saved


def test_a_vault_token_is_a_card_whatever_it_spells() -> None:
    assert type_of(PAYPAL_LOOKING) == "card"
    assert type_of("pm_paypal") == "paypal"


def saved_card(customer: str | None = None) -> SavedCard:
    return SavedCard(
        id=TOKEN,
        merchant_id="acct_1",
        brand="visa",
        last4="4242",
        exp_month=12,
        exp_year=2034,
        fingerprint="Fp0123456789abcd",
        funding="credit",
        country=None,
        billing_name="Ada Lovelace",
        created=1_700_000_000,
        customer=customer,
    )


def test_the_payment_method_object_is_stripes_and_holds_no_number() -> None:
    obj = saved_card("cus_1").as_stripe_object()
    assert obj == {
        "id": TOKEN,
        "object": "payment_method",
        "type": "card",
        "billing_details": {"address": None, "email": None, "name": "Ada Lovelace", "phone": None},
        "card": {
            "brand": "visa",
            "last4": "4242",
            "exp_month": 12,
            "exp_year": 2034,
            "fingerprint": "Fp0123456789abcd",
            "funding": "credit",
            "country": None,
        },
        "created": 1_700_000_000,
        "customer": "cus_1",
        "livemode": False,
        "metadata": {},
    }


def test_attach_and_detach() -> None:
    card = saved_card()
    card.attach("cus_1")
    card.attach("cus_1")  # again, to the same customer: nothing changes
    assert card.customer == "cus_1"
    with pytest.raises(UnexpectedState) as other:
        card.attach("cus_2")
    assert (other.value.code, other.value.param) == ("payment_method_unexpected_state", "customer")
    card.detach()
    assert card.customer is None
    with pytest.raises(UnexpectedState, match="not attached to a customer"):
        card.detach()


Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """Answers as `handler` says and keeps every request it saw."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


def authorize(
    vault: Recorder | None, psp: Recorder | None = None, payment_method: str = TOKEN
) -> PspResult:
    async def run() -> PspResult:
        never = Recorder(lambda _: httpx.Response(500))
        psp_client = httpx.AsyncClient(
            base_url="http://psp.test", transport=httpx.MockTransport(psp or never)
        )
        vault_client = None
        if vault is not None:
            transport = httpx.MockTransport(vault)
            vault_client = httpx.AsyncClient(base_url="https://vault.test", transport=transport)
        resilience = Resilience("test", max_attempts=2, failure_threshold=100, reset_seconds=1)
        connector = SimulatorConnector(psp_client, resilience, vault_client)
        try:
            return await connector.authorize(
                idempotency_key="att_1",
                merchant_id="acct_1",
                amount=1500,
                currency="usd",
                payment_method=payment_method,
                merchant_reference="pi_1",
                capture=True,
                return_url="https://payplane.test/redirect/return/att_1",
            )
        finally:
            await psp_client.aclose()
            if vault_client is not None:
                await vault_client.aclose()

    return asyncio.run(run())


def answer(status: int, body: dict[str, Any]) -> Handler:
    return lambda _: httpx.Response(status, json=body)


def vault_error(status: int, code: str) -> Handler:
    error = {"type": "api_error", "code": code, "message": f"the vault says {code}"}
    return answer(status, {"error": error})


AUTHORIZED = {"id": "psp_1", "object": "authorization", "status": "captured", "decline": None}


def test_a_saved_card_is_forwarded_by_the_vault_under_the_same_key() -> None:
    vault = Recorder(answer(200, AUTHORIZED))
    psp = Recorder(answer(500, {}))
    result = authorize(vault, psp)
    assert (result.outcome, result.psp_reference) == (PspOutcome.SUCCEEDED, "psp_1")
    assert psp.requests == []  # the core never reaches the PSP with a saved card
    (sent,) = vault.requests
    assert (sent.method, sent.url.path) == ("POST", VAULT_FORWARD_PATH)
    assert sent.headers["Idempotency-Key"] == "att_1"
    assert json.loads(sent.content) == {
        "merchant_id": "acct_1",
        "payment_method": TOKEN,
        "psp_request": {
            "amount": 1500,
            "currency": "usd",
            "merchant_reference": "pi_1",
            "capture": True,
            "return_url": "https://payplane.test/redirect/return/att_1",
        },
    }


def test_a_test_token_goes_to_the_psp_itself() -> None:
    vault = Recorder(answer(500, {}))
    psp = Recorder(answer(200, AUTHORIZED))
    result = authorize(vault, psp, payment_method="pm_card_visa")
    assert result.outcome is PspOutcome.SUCCEEDED
    assert vault.requests == []
    (sent,) = psp.requests
    assert sent.url.path == "/v1/authorizations"
    assert json.loads(sent.content)["payment_method"] == "pm_card_visa"


def test_the_psps_answer_through_the_vault_reads_as_the_psps() -> None:
    declined = {
        "id": "psp_2",
        "object": "authorization",
        "status": "declined",
        "decline": {
            "code": "card_declined",
            "decline_code": "generic_decline",
            "message": "Your card was declined.",
        },
    }
    result = authorize(Recorder(answer(200, declined)))
    assert (result.outcome, result.error_code, result.decline_code) == (
        PspOutcome.DECLINED, "card_declined", "generic_decline"
    )  # fmt: skip
    challenge = {
        "id": "psp_3",
        "object": "authorization",
        "status": "requires_action",
        "next_action": {"type": "redirect", "url": "https://psp.test/pages/3ds/psp_3"},
    }
    result = authorize(Recorder(answer(200, challenge)))
    assert (result.outcome, result.redirect_url) == (
        PspOutcome.ACTION_REQUIRED, "https://psp.test/pages/3ds/psp_3"
    )  # fmt: skip


def test_psp_unreachable_means_nothing_was_sent_and_is_retried() -> None:
    vault = Recorder(vault_error(503, "psp_unreachable"))
    result = authorize(vault)
    assert result.outcome is PspOutcome.NOT_APPLIED
    assert len(vault.requests) == 2  # every try the resilience layer allows
    assert {r.headers["Idempotency-Key"] for r in vault.requests} == {"att_1"}


@pytest.mark.parametrize(
    ("status", "code"),
    [(504, "psp_timeout"), (502, "psp_invalid_response"), (500, "api_error")],
)
def test_sent_without_an_answer_is_unknown(status: int, code: str) -> None:
    vault = Recorder(vault_error(status, code))
    assert authorize(vault).outcome is PspOutcome.UNKNOWN
    assert len(vault.requests) == 1  # never blindly sent again: the resolver asks the PSP


@pytest.mark.parametrize(
    ("status", "code"), [(404, "resource_missing"), (400, "parameter_invalid")]
)
def test_a_card_the_vault_cannot_use_is_declined_with_its_code(status: int, code: str) -> None:
    result = authorize(Recorder(vault_error(status, code)))
    assert (result.outcome, result.error_code) == (PspOutcome.DECLINED, code)
    assert result.message == f"the vault says {code}"


def test_a_refused_certificate_sent_nothing() -> None:
    result = authorize(Recorder(vault_error(403, "service_not_allowed")))
    assert result.outcome is PspOutcome.NOT_APPLIED
    assert result.message == "the vault says service_not_allowed"


def raises(exc: Exception) -> Handler:
    def handler(_: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def test_transport_failures_before_and_after_sending() -> None:
    refused = authorize(Recorder(raises(httpx.ConnectError("refused"))))
    assert refused.outcome is PspOutcome.NOT_APPLIED
    lost = authorize(Recorder(raises(httpx.ReadTimeout("no answer"))))
    assert lost.outcome is PspOutcome.UNKNOWN


def test_without_a_vault_a_saved_card_is_not_sent_anywhere() -> None:
    psp = Recorder(answer(200, AUTHORIZED))
    result = authorize(None, psp)
    assert result.outcome is PspOutcome.NOT_APPLIED
    assert "certificate" in (result.message or "")
    assert psp.requests == []
