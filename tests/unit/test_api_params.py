"""Parameter validation: pydantic errors become Stripe's invalid_request_error with `param`."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from payplane.api import schemas
from payplane.api.decoding import decode_body
from payplane.api.errors import parse
from payplane.domain.errors import InvalidRequest
from payplane.domain.payment_intent import CaptureMethod

BASE: dict[str, Any] = {"amount": "2000", "currency": "usd"}
FORM = "application/x-www-form-urlencoded"


def refused(model: type[BaseModel], params: dict[str, Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as excinfo:
        parse(model, params)
    error = excinfo.value
    assert error.type == "invalid_request_error"
    assert error.http_status == 400
    return error


def test_valid_form_params_are_converted() -> None:
    params = parse(
        schemas.CreatePaymentIntent,
        {
            **BASE,
            "capture_method": "manual",
            "confirm": "true",
            "payment_method": "pm_card_visa",
            "metadata": {"order": "6735", "n": 5},
            "expand": ["latest_charge"],
        },
    )
    assert params.amount == 2000
    assert isinstance(params.amount, int)
    assert params.capture_method is CaptureMethod.MANUAL
    assert params.confirm is True
    assert params.payment_method == "pm_card_visa"
    assert params.metadata == {"order": "6735", "n": "5"}
    assert params.expand == ["latest_charge"]


def test_defaults() -> None:
    params = parse(schemas.CreatePaymentIntent, dict(BASE))
    assert params.capture_method is CaptureMethod.AUTOMATIC
    assert params.confirm is False
    assert params.metadata is None


@pytest.mark.parametrize("amount", [2000, "2000", " 2000 "])
def test_amount_accepts_integers_and_integer_strings(amount: object) -> None:
    assert parse(schemas.CreatePaymentIntent, {**BASE, "amount": amount}).amount == 2000


def test_blank_customer_and_description_mean_none() -> None:
    params = parse(schemas.CreatePaymentIntent, {**BASE, "customer": "", "description": ""})
    assert params.customer is None
    assert params.description is None


@pytest.mark.parametrize("missing", ["amount", "currency"])
def test_missing_required_param(missing: str) -> None:
    params = {k: v for k, v in BASE.items() if k != missing}
    error = refused(schemas.CreatePaymentIntent, params)
    assert error.code == "parameter_missing"
    assert error.param == missing
    assert error.message == f"Missing required param: {missing}."


@pytest.mark.parametrize("amount", ["12.5", "abc", 12.5, True, False, "", "1e3", None, [1], {}])
def test_amount_must_be_an_integer(amount: object) -> None:
    error = refused(schemas.CreatePaymentIntent, {**BASE, "amount": amount})
    assert error.code == "parameter_invalid_integer"
    assert error.param == "amount"
    assert "amount" in error.message


@pytest.mark.parametrize("amount", ["--5", "\u00b2", "\u0661\u0662"])
def test_amount_garbage_is_parameter_invalid_integer(amount: str) -> None:
    error = refused(schemas.CreatePaymentIntent, {**BASE, "amount": amount})
    assert error.code == "parameter_invalid_integer"
    assert "int()" not in error.message


def test_unknown_parameter() -> None:
    error = refused(schemas.CreatePaymentIntent, {**BASE, "foo": "1"})
    assert error.code == "parameter_unknown"
    assert error.param == "foo"
    assert error.message == "Received unknown parameter: foo"


def test_capture_method_must_be_automatic_or_manual() -> None:
    error = refused(schemas.CreatePaymentIntent, {**BASE, "capture_method": "sometimes"})
    assert error.param == "capture_method"
    assert error.code == "parameter_invalid"
    assert "sometimes" in error.message


@pytest.mark.parametrize("currency", ["us", "usdd", "u$d", "123", ""])
def test_currency_must_be_three_letters(currency: str) -> None:
    error = refused(schemas.CreatePaymentIntent, {**BASE, "currency": currency})
    assert error.param == "currency"


def test_confirm_must_be_a_boolean() -> None:
    assert refused(schemas.CreatePaymentIntent, {**BASE, "confirm": "maybe"}).param == "confirm"


@pytest.mark.parametrize("payment_method", ["card_123", "pm_", "pm_a-b", "tok_visa", "PM_x"])
def test_payment_method_must_be_a_pm_id(payment_method: str) -> None:
    error = refused(schemas.CreatePaymentIntent, {**BASE, "payment_method": payment_method})
    assert error.param == "payment_method"


def test_payment_method_types_are_well_formed_names() -> None:
    # Whether a type is enabled is the connectors' business (payment_method_unactivated).
    assert parse(
        schemas.CreatePaymentIntent, {**BASE, "payment_method_types": ["card", "sepa_debit"]}
    ).payment_method_types == ["card", "sepa_debit"]
    for bad in (["SEPA!"], [], ["card"] * 21):
        error = refused(schemas.CreatePaymentIntent, {**BASE, "payment_method_types": bad})
        assert error.param is not None
        assert error.param.startswith("payment_method_types")


@pytest.mark.parametrize("url", ["ftp://shop.example/back", "/relative", "http://", "https://a b"])
def test_return_url_must_be_absolute_http(url: str) -> None:
    error = refused(schemas.ConfirmPaymentIntent, {"return_url": url})
    assert error.param == "return_url"


# -- metadata ----------------------------------------------------------------------------------


def _metadata_error(metadata: object) -> InvalidRequest:
    error = refused(schemas.CreatePaymentIntent, {**BASE, "metadata": metadata})
    assert error.param is not None
    assert error.param == "metadata" or error.param.startswith("metadata[")
    return error


def test_metadata_with_51_keys_is_refused() -> None:
    error = _metadata_error({f"k{i}": "v" for i in range(51)})
    assert "50" in error.message


def test_metadata_key_of_41_characters_is_refused() -> None:
    error = _metadata_error({"k" * 41: "v"})
    assert "40" in error.message


def test_metadata_value_of_501_characters_is_refused() -> None:
    error = _metadata_error({"k": "v" * 501})
    assert "500" in error.message


def test_metadata_at_the_limits_is_accepted() -> None:
    at_limit = {f"{i:040d}": "v" * 500 for i in range(50)}
    assert parse(schemas.CreatePaymentIntent, {**BASE, "metadata": at_limit}).metadata == at_limit


@pytest.mark.parametrize("metadata", [["a"], "text", 5, {"k": None}, {"k": {"x": "y"}}])
def test_metadata_must_be_a_hash_of_strings(metadata: object) -> None:
    _metadata_error(metadata)


def test_empty_metadata_string_is_accepted_as_unset_all() -> None:
    assert parse(schemas.CreatePaymentIntent, {**BASE, "metadata": ""}).metadata == ""
    assert parse(schemas.UpdatePaymentIntent, {"metadata": ""}).metadata == ""


def test_metadata_empty_value_is_kept_for_deletion() -> None:
    params = parse(schemas.UpdatePaymentIntent, {"metadata": {"gone": "", "kept": "1"}})
    assert params.metadata == {"gone": "", "kept": "1"}


def test_numeric_metadata_keys_from_a_form_body() -> None:
    decoded = decode_body(FORM, b"amount=2000&currency=usd&metadata[5]=x&metadata[7]=y")
    params = parse(schemas.CreatePaymentIntent, decoded)
    assert params.metadata == {"5": "x", "7": "y"}


# -- other endpoints ---------------------------------------------------------------------------


@pytest.mark.parametrize("amount", ["12.5", "x", 1.5, True])
def test_amount_to_capture_must_be_an_integer(amount: object) -> None:
    error = refused(schemas.CapturePaymentIntent, {"amount_to_capture": amount})
    assert error.code == "parameter_invalid_integer"
    assert error.param == "amount_to_capture"


def test_cancellation_reason_is_an_enumeration() -> None:
    ok = parse(schemas.CancelPaymentIntent, {"cancellation_reason": "duplicate"})
    assert ok.cancellation_reason == "duplicate"
    error = refused(schemas.CancelPaymentIntent, {"cancellation_reason": "bored"})
    assert error.param == "cancellation_reason"


def test_update_rejects_unknown_and_accepts_partial() -> None:
    params = parse(schemas.UpdatePaymentIntent, {"description": "x"})
    assert params.amount is None
    assert params.description == "x"
    assert refused(schemas.UpdatePaymentIntent, {"status": "succeeded"}).param == "status"


@pytest.mark.parametrize("limit", ["0", "101", 0, 101, "-1", "ten"])
def test_list_limit_must_be_between_1_and_100(limit: object) -> None:
    error = refused(schemas.ListPaymentIntents, {"limit": limit})
    assert error.param == "limit"


@pytest.mark.parametrize(("limit", "expected"), [("1", 1), ("100", 100), (50, 50)])
def test_list_limit_bounds_are_inclusive(limit: object, expected: int) -> None:
    assert parse(schemas.ListPaymentIntents, {"limit": limit}).limit == expected


def test_list_defaults() -> None:
    params = parse(schemas.ListPaymentIntents, {})
    assert params.limit == 10
    assert params.created is None


def test_created_filter_from_bracket_params() -> None:
    params = parse(schemas.ListPaymentIntents, decode_body(FORM, b"created[gte]=1&created[lt]=9"))
    assert isinstance(params.created, schemas.CreatedFilter)
    assert params.created.gte == 1
    assert params.created.lt == 9
    assert params.created.gt is None


def test_created_as_an_exact_timestamp() -> None:
    created = parse(schemas.ListEvents, {"created": "1700000000"}).created
    assert created is not None
    assert (created.gte, created.lte, created.gt, created.lt) == (
        1_700_000_000,
        1_700_000_000,
        None,
        None,
    )


def test_indexed_lists_from_stripe_libraries() -> None:
    params = parse(
        schemas.CreatePaymentIntent,
        {"amount": "1", "currency": "usd", "expand": {"1": "b", "0": "a", "10": "c"}},
    )
    assert params.expand == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("created", "param"),
    [({"gte": "x"}, "created[gte]"), ({"foo": "1"}, "created[foo]"), ("abc", "created")],
)
def test_created_errors_name_the_stripe_param(created: object, param: str) -> None:
    error = refused(schemas.ListPaymentIntents, {"created": created})
    assert error.param == param


# -- robustness: any JSON-ish input is either accepted or an InvalidRequest ------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = st.sampled_from(
    [
        "amount",
        "currency",
        "capture_method",
        "confirm",
        "payment_method",
        "metadata",
        "customer",
        "expand",
        "limit",
        "created",
        "amount_to_capture",
        "cancellation_reason",
        "unknown",
    ]
)
MODELS = st.sampled_from(
    [
        schemas.CreatePaymentIntent,
        schemas.UpdatePaymentIntent,
        schemas.ConfirmPaymentIntent,
        schemas.CapturePaymentIntent,
        schemas.CancelPaymentIntent,
        schemas.ListPaymentIntents,
        schemas.ListEvents,
    ]
)


@settings(max_examples=200)
@given(model=MODELS, params=st.dictionaries(FIELDS, JSON_VALUES, max_size=5))
def test_any_input_is_accepted_or_refused_as_invalid_request(
    model: type[BaseModel], params: dict[str, Any]
) -> None:
    error: InvalidRequest | None = None
    try:
        parse(model, params)
    except InvalidRequest as exc:
        error = exc
    if error is not None:
        assert error.param
        assert error.code in {
            "parameter_missing",
            "parameter_unknown",
            "parameter_invalid",
            "parameter_invalid_integer",
        }
        assert error.message
