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
        "att_1", "authorization", PspResult(PspOutcome.SUCCEEDED, psp_reference="psp_1")
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
