"""Reading the simulator's webhook events into connector-neutral instructions."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from payplane.adapters.psp.simulator_events import SimulatorEvents
from payplane.config import SIMULATOR_WEBHOOK_SECRET
from payplane.services.inbox import retry_delay
from payplane.services.inbox_ports import DisputeNews, NoAction, OperationNews
from payplane.services.ports import PspOutcome, PspResult

EVENTS = SimulatorEvents([SIMULATOR_WEBHOOK_SECRET], tolerance_seconds=300)


def _body(event_type: str, data: dict[str, Any]) -> bytes:
    return orjson.dumps({"id": "evt_psp_1", "type": event_type, "created": 1, "data": data})


def _authorization(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "psp_1",
        "object": "authorization",
        "status": status,
        "amount": 1000,
        "currency": "usd",
        "captured_amount": 0,
        "merchant_reference": "pi_1",
        "payment_method": "pm_card_visa",
        "decline": None,
        "created": 1,
        "idempotency_key": "att_1",
        "operation": "authorize",
        **extra,
    }


def _refund(status: str, failure_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "psr_1",
        "object": "refund",
        "authorization": "psp_1",
        "amount": 500,
        "currency": "usd",
        "status": status,
        "failure_reason": failure_reason,
        "created": 1,
        "idempotency_key": "att_2",
    }


@pytest.mark.parametrize(
    ("event_type", "status"),
    [
        ("authorization.succeeded", "authorized"),
        ("authorization.captured", "captured"),
        ("authorization.voided", "voided"),
    ],
)
def test_an_authorization_change_is_the_answer_its_call_would_have_had(
    event_type: str, status: str
) -> None:
    assert EVENTS.parse(event_type, _body(event_type, _authorization(status))) == OperationNews(
        "att_1",
        "authorization",
        PspResult(PspOutcome.SUCCEEDED, psp_reference="psp_1"),
    )


def test_a_declined_authorization_carries_the_decline() -> None:
    decline = {"code": "card_declined", "decline_code": "insufficient_funds", "message": "No."}
    data = _authorization("declined", decline=decline)
    news = EVENTS.parse("authorization.failed", _body("authorization.failed", data))
    assert news == OperationNews(
        "att_1",
        "authorization",
        PspResult(
            PspOutcome.DECLINED,
            psp_reference="psp_1",
            error_code="card_declined",
            decline_code="insufficient_funds",
            message="No.",
        ),
    )


def test_an_authorization_event_whose_type_and_object_disagree_is_not_acted_on() -> None:
    data = _authorization("authorized", operation="capture")
    assert isinstance(
        EVENTS.parse("authorization.failed", _body("authorization.failed", data)), NoAction
    )


@pytest.mark.parametrize(
    ("status", "failure_reason"),
    [("pending", None), ("succeeded", None), ("failed", "insufficient_funds"), ("canceled", None)],
)
def test_a_refund_change_carries_the_refunds_status(
    status: str, failure_reason: str | None
) -> None:
    event_type = f"refund.{status}"
    news = EVENTS.parse(event_type, _body(event_type, _refund(status, failure_reason)))
    assert news == OperationNews(
        "att_2",
        "refund",
        PspResult(
            PspOutcome.SUCCEEDED,
            psp_reference="psr_1",
            status=status,
            failure_reason=failure_reason,
        ),
    )


def test_a_chargeback_event_is_the_dispute_the_feed_would_give() -> None:
    data = {
        "id": "psd_1",
        "object": "dispute",
        "authorization": "psp_1",
        "merchant_reference": "pi_1",
        "amount": 1000,
        "currency": "usd",
        "reason": "fraudulent",
        "status": "needs_response",
        "fee": 1500,
        "evidence": {},
        "evidence_submitted": False,
        "evidence_due_by": 8,
        "created": 1,
        "change_seq": 7,
    }
    news = EVENTS.parse("chargeback.opened", _body("chargeback.opened", data))
    assert isinstance(news, DisputeNews)
    assert (news.dispute.psp_id, news.dispute.change_seq, news.dispute.merchant_reference) == (
        "psd_1",
        7,
        "pi_1",
    )


def test_unknown_types_and_events_without_an_operation_key_are_not_acted_on() -> None:
    assert isinstance(EVENTS.parse("payout.paid", _body("payout.paid", {})), NoAction)
    data = _authorization("authorized", idempotency_key=None)
    assert isinstance(
        EVENTS.parse("authorization.succeeded", _body("authorization.succeeded", data)), NoAction
    )


@pytest.mark.parametrize(
    ("event_type", "body"),
    [
        ("authorization.succeeded", b"{}"),
        ("authorization.succeeded", _body("authorization.succeeded", {"idempotency_key": "k"})),
        ("refund.pending", _body("refund.pending", {**_refund("pending"), "object": "payout"})),
        ("chargeback.opened", _body("chargeback.opened", {"id": "psd_1"})),
        ("chargeback.opened", b"not json"),
    ],
)
def test_a_malformed_event_is_a_value_error(event_type: str, body: bytes) -> None:
    with pytest.raises(ValueError, match="malformed"):
        EVENTS.parse(event_type, body)


def test_retries_back_off_from_half_a_second_doubling_to_a_minute() -> None:
    assert [retry_delay(n) for n in range(1, 10)] == [0.5, 1, 2, 4, 8, 16, 32, 60, 60]


@pytest.mark.parametrize(
    ("product", "connector"),
    [
        ("wallet", "sim_wallet"),
        ("bank_redirect", "sim_bank_redirect"),
        ("bank_debit", "sim_bank_debit"),
    ],
)
def test_each_product_speaks_for_its_own_connector(product: str, connector: str) -> None:
    data = {**_authorization("pending"), "product": product}
    news = EVENTS.parse("authorization.pending", _body("authorization.pending", data))
    assert news == OperationNews(
        "att_1", "authorization", PspResult(PspOutcome.PENDING, psp_reference="psp_1"), connector
    )


def test_a_failed_challenge_reads_as_stripes_authentication_failure() -> None:
    decline = {
        "code": "authentication_failed",
        "decline_code": "authentication_failed",
        "message": "The customer failed authentication.",
    }
    data = _authorization("declined", decline=decline)
    news = EVENTS.parse("authorization.failed", _body("authorization.failed", data))
    assert isinstance(news, OperationNews)
    assert news.result.error_type == "invalid_request_error"
    assert news.result.error_code == "payment_intent_authentication_failure"


def test_a_bank_failure_reads_as_a_failed_payment_attempt() -> None:
    decline = {"code": "debit_failed", "decline_code": "insufficient_funds", "message": "Returned."}
    data = {**_authorization("declined", decline=decline), "product": "bank_debit"}
    news = EVENTS.parse("authorization.failed", _body("authorization.failed", data))
    assert isinstance(news, OperationNews)
    assert news.result.error_code == "payment_intent_payment_attempt_failed"
    assert news.result.decline_code == "insufficient_funds"
    assert news.result.message == "Returned."


def test_an_expiry_calls_event_is_left_to_the_call() -> None:
    decline = {
        "code": "authentication_failed",
        "decline_code": "authentication_failed",
        "message": "Too late.",
    }
    data = _authorization("declined", decline=decline, operation="expire")
    assert isinstance(
        EVENTS.parse("authorization.failed", _body("authorization.failed", data)), NoAction
    )


def test_a_challenge_event_carries_the_page_to_send_the_customer_to() -> None:
    data = {
        **_authorization("requires_action"),
        "next_action": {"type": "redirect", "url": "http://psp/pages/3ds/psp_1"},
    }
    news = EVENTS.parse(
        "authorization.requires_action", _body("authorization.requires_action", data)
    )
    assert isinstance(news, OperationNews)
    assert news.result.outcome is PspOutcome.ACTION_REQUIRED
    assert news.result.redirect_url == "http://psp/pages/3ds/psp_1"
