"""The API's PAN guard: any field, key, query value, path parameter or header holding a card
number is refused with card_number_in_field, the field named and the number never repeated."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from payplane.api.card_numbers import CODE, refuse_card_numbers
from payplane.domain.errors import InvalidRequest

PAN = "4111111111111111"


def request(
    method: str = "POST",
    query: str = "",
    headers: dict[str, str] | None = None,
    path_params: dict[str, str] | None = None,
) -> Request:
    return Request(
        {
            "type": "http",
            "method": method,
            "path": "/v1/payment_intents",
            "query_string": query.encode(),
            "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
            "path_params": path_params or {},
        }
    )


def refused(req: Request, params: dict[str, Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        refuse_card_numbers(req, params)
    error = caught.value
    assert error.code == CODE
    assert error.http_status == 400
    assert PAN not in error.message
    assert error.param is not None
    assert PAN not in error.param
    assert error.param in error.message
    return error


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"description": f"card {PAN}"}, "description"),
        ({"metadata": {"note": "4111 1111 1111 1111"}}, "metadata[note]"),
        ({"metadata": {PAN: "x"}}, "metadata[****1111]"),
        ({"metadata": {PAN: {}}}, "metadata[****1111]"),
        (
            {"evidence": {"items": [{"text": "ok"}, {"text": f"x{PAN}x"}]}},
            "evidence[items][1][text]",
        ),
        ({"statement_descriptor": "4111-1111-1111-1111"}, "statement_descriptor"),
        ({"amount": 4111111111111111}, "amount"),  # a JSON number is text too
    ],
)
def test_a_card_number_in_the_body_is_refused_naming_the_field(
    params: dict[str, Any], param: str
) -> None:
    assert refused(request(), params).param == param


def test_a_card_number_in_the_query_string_is_refused_on_any_method() -> None:
    assert refused(request("POST", f"note={PAN}"), {}).param == "note"
    assert refused(request("GET"), {"customer": PAN}).param == "customer"


def test_a_card_number_in_a_header_or_the_path_is_refused() -> None:
    assert refused(request(headers={"Idempotency-Key": f"order-{PAN}"}), {}).param == (
        "Idempotency-Key"
    )
    assert refused(request(headers={"X-Note": PAN}), {}).param == "X-Note"
    assert refused(request(path_params={"intent_id": PAN}), {}).param == "intent_id"


def test_clean_requests_and_trace_headers_pass() -> None:
    refuse_card_numbers(
        request(
            query="limit=3",
            headers={
                "Idempotency-Key": "order-6735",
                "traceparent": f"00-{PAN}aaaaaaaaaaaaaaaa-00f067aa0ba902b7-01",
                "X-Cloud-Trace-Context": f"105445aa7843bc8bf206b12000100000/{PAN};o=1",
            },
            path_params={"intent_id": "pi_3N2xAbCdEf"},
        ),
        {"amount": 2000, "metadata": {"order": "6735"}, "expand": ["latest_charge"]},
    )
