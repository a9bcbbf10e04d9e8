"""Stripe request bodies (form with bracket keys, JSON) decoded to one nested dict."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payplane.api.decoding import MAX_BODY_BYTES, decode_body, decode_pairs, decode_query
from payplane.domain.errors import InvalidRequest

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"amount=2000&currency=usd", {"amount": "2000", "currency": "usd"}),
        (b"metadata[order_id]=6735&metadata[k]=v", {"metadata": {"order_id": "6735", "k": "v"}}),
        (b"expand[]=a&expand[]=b", {"expand": ["a", "b"]}),
        # Indexed keys stay a hash: only the schema knows a list from numeric metadata keys.
        (b"expand[0]=a&expand[1]=b", {"expand": {"0": "a", "1": "b"}}),
        (b"metadata[5]=x&metadata[7]=y", {"metadata": {"5": "x", "7": "y"}}),
        (
            b"items[0][price]=x&items[0][quantity]=2&items[1][price]=y",
            {"items": {"0": {"price": "x", "quantity": "2"}, "1": {"price": "y"}}},
        ),
        (b"created[gte]=1&created[lt]=9", {"created": {"gte": "1", "lt": "9"}}),
        (b"a[b][c][d]=deep", {"a": {"b": {"c": {"d": "deep"}}}}),
        (b"description=hello+world%21", {"description": "hello world!"}),
        (b"metadata[note]=a%26b%3Dc", {"metadata": {"note": "a&b=c"}}),
        (b"metadata=", {"metadata": ""}),
        (b"name=%C3%A9t%C3%A9", {"name": "\u00e9t\u00e9"}),
    ],
)
def test_form_bodies(body: bytes, expected: dict[str, Any]) -> None:
    assert decode_body(FORM, body) == expected


def test_form_content_type_parameters_and_case_are_ignored() -> None:
    assert decode_body("Application/X-WWW-Form-Urlencoded; charset=utf-8", b"a=1") == {"a": "1"}


def test_missing_content_type_is_read_as_form() -> None:
    assert decode_body("", b"a=1&b[c]=2") == {"a": "1", "b": {"c": "2"}}


def test_a_later_scalar_replaces_an_earlier_one() -> None:
    assert decode_body(FORM, b"a=1&a=2") == {"a": "2"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"amount": 2000, "currency": "usd"}', {"amount": 2000, "currency": "usd"}),
        (b'{"metadata": {"k": "v"}, "expand": ["a"]}', {"metadata": {"k": "v"}, "expand": ["a"]}),
        (b"{}", {}),
    ],
)
def test_json_bodies(body: bytes, expected: dict[str, Any]) -> None:
    assert decode_body(JSON, body) == expected
    assert decode_body("application/json; charset=utf-8", body) == expected


@pytest.mark.parametrize("content_type", [FORM, JSON, "", "text/plain"])
@pytest.mark.parametrize("body", [b"", b"   ", b"\r\n"])
def test_empty_body_is_no_params(content_type: str, body: bytes) -> None:
    assert decode_body(content_type, body) == {}


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42", b"null", b"true"])
def test_json_body_must_be_an_object(body: bytes) -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        decode_body(JSON, body)
    assert excinfo.value.code == "invalid_request_body"
    assert excinfo.value.http_status == 400


@pytest.mark.parametrize("body", [b"{", b'{"a": }', b"{'a': 1}", b"\xff\xfe", b'{"a": 1} x'])
def test_malformed_json_is_an_invalid_request(body: bytes) -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        decode_body(JSON, body)
    assert excinfo.value.code == "invalid_request_body"
    assert "JSON" in excinfo.value.message


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data; boundary=x", "xml"])
def test_unsupported_content_type_with_a_body(content_type: str) -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        decode_body(content_type, b"a=1")
    assert excinfo.value.code == "invalid_request_body"
    assert content_type.split(";", maxsplit=1)[0] in excinfo.value.message


def test_oversized_body_is_refused() -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        decode_body(FORM, b"a=" + b"x" * MAX_BODY_BYTES)
    assert excinfo.value.code == "invalid_request_body"


@pytest.mark.parametrize(
    "body",
    [b"%zz=1&&=", b"a=1&&b=2", b"justakey", b"\xff=1", b"a=\xc3"],
)
def test_malformed_form_is_an_invalid_request_not_a_crash(body: bytes) -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        decode_body(FORM, body)
    assert excinfo.value.http_status == 400


@pytest.mark.parametrize(
    "body",
    [
        b"a=1&a[b]=2",  # scalar, then hash
        b"a=1&a[]=2",  # scalar, then list
        b"a[]=1&a[b]=2",  # list, then hash key
        b"a[]=1&a[0][b]=2",  # list of scalars, then hash inside it
        b"a[b]c=1",  # text after the brackets
        b"[a]=1",  # no name before the brackets
        b"=1",  # no name at all
        b"a[b=1",  # unbalanced bracket
        b"a[[b]]=1",
    ],
)
def test_conflicting_or_malformed_keys_are_invalid_requests(body: bytes) -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        decode_body(FORM, body)
    assert excinfo.value.code in ("parameter_invalid", "invalid_request_body")
    assert excinfo.value.http_status == 400


def test_a_conflicting_key_is_named_in_param() -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        decode_body(FORM, b"metadata=x&metadata[k]=v")
    assert excinfo.value.param == "metadata[k]"


@pytest.mark.parametrize("body", ["a[%C2%B2]=1", "items[%E2%91%A0][price]=x"])
def test_non_ascii_digit_index_is_a_plain_key(body: str) -> None:
    decoded = decode_body(FORM, body.encode())
    (outer,) = decoded.values()
    assert isinstance(outer, dict)
    assert not any(key.isascii() for key in outer)


def test_decode_query_uses_the_same_bracket_rules() -> None:
    assert decode_query("limit=3&created[gte]=10&expand[]=x") == {
        "limit": "3",
        "created": {"gte": "10"},
        "expand": ["x"],
    }
    assert decode_query("") == {}
    with pytest.raises(InvalidRequest):
        decode_query("a=1&a[b]=2")


def test_decode_pairs_directly() -> None:
    assert decode_pairs([("metadata[a]", "1"), ("metadata[b]", "")]) == {
        "metadata": {"a": "1", "b": ""}
    }


SAFE_KEYS = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="[]"),
    min_size=1,
    max_size=20,
)
VALUES = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=200)
@given(params=st.dictionaries(SAFE_KEYS, VALUES, max_size=10))
def test_flat_form_round_trip(params: dict[str, str]) -> None:
    body = urlencode(params).encode()
    assert decode_body(FORM, body) == params


# All-digit keys are list indexes in Stripe's form syntax (see test_api_params for metadata).
HASH_KEYS = SAFE_KEYS.filter(lambda key: not key.isdigit())


@settings(max_examples=100)
@given(metadata=st.dictionaries(HASH_KEYS, VALUES, min_size=1, max_size=10))
def test_metadata_hash_round_trip(metadata: dict[str, str]) -> None:
    body = urlencode({f"metadata[{k}]": v for k, v in metadata.items()}).encode()
    assert decode_body(FORM, body) == {"metadata": metadata}


@settings(max_examples=100)
@given(items=st.lists(VALUES, min_size=1, max_size=10))
def test_list_round_trip(items: list[str]) -> None:
    body = urlencode([("expand[]", item) for item in items]).encode()
    assert decode_body(FORM, body) == {"expand": items}
