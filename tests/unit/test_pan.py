"""Card numbers in free text: found when written plain, spaced or dashed; masked idempotently."""

from __future__ import annotations

import time
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payplane.domain.pan import contains, find, redact, redact_values


def luhn_complete(body: str) -> str:
    """`body` with the check digit that makes it Luhn-valid."""
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return body + str(-total % 10)


def luhn_ok(number: str) -> bool:
    return luhn_complete(number[:-1]) == number


PANS = st.integers(min_value=12, max_value=18).flatmap(
    lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n).map(luhn_complete)
)
# Text around a card number: anything, as long as no digit touches the number itself.
FILLER = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
BOUNDARY = st.sampled_from([" ", "x", ":", "\n", "=", '"', "(", "é", "*"])


def grouped(number: str, sizes: list[int], separator: str) -> str:
    groups, rest = [], number
    for size in sizes:
        if not rest:
            break
        groups.append(rest[:size])
        rest = rest[size:]
    if rest:
        groups.append(rest)
    return separator.join(groups)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("4111111111111111", "4111111111111111"),
        ("4111 1111 1111 1111", "4111111111111111"),
        ("4111-1111-1111-1111", "4111111111111111"),
        ("card: 5500005555555559, thanks", "5500005555555559"),
        ("amex 3782 822463 10005", "378282246310005"),
        ("nineteen digits 6200000000000000000 here", "6200000000000000000"),
        ("pan=4000056655665556&x=1", "4000056655665556"),
        ("order 1234 4111111111111111", "4111111111111111"),  # after another number
        ("4111 1111 1111 1111 12 30", "4111111111111111"),  # followed by an expiry
        ("x4111111111111111y", "4111111111111111"),
    ],
)
def test_card_numbers_are_found_in_every_usual_writing(text: str, number: str) -> None:
    assert contains(text)
    redacted = redact(text)
    assert number not in redacted.replace(" ", "").replace("-", "")
    assert number[-4:] in redacted


@pytest.mark.parametrize(
    "text",
    [
        "",
        "pi_3N2xAbCdEf1234567890",
        "4111111111111112",  # fails the Luhn check
        "411111111111",  # 12 digits
        "41111111111111111111",  # 20 digits: a longer number, not a card
        "4111  1111 1111 1111",  # a double space is not a group separator
        "2024-01-15 10:30:00",
        "amount=2000&currency=usd",
        "+1 415 555 0100",
    ],
)
def test_other_text_is_left_alone(text: str) -> None:
    assert find(text) == []
    assert redact(text) == text


def test_mask_keeps_the_last_four_digits_only() -> None:
    assert redact("pay with 4111 1111 1111 1111 please") == "pay with ****1111 please"
    assert redact("4111111111111111/5500005555555559") == "****1111/****5559"


def test_mask_shows_no_digits_that_would_form_a_new_candidate_with_the_next_ones() -> None:
    # "1111 123456789" would be 13 digits: showing 1111 could make a second redaction differ.
    assert redact("4111111111111111 123456789") == "**** 123456789"
    assert redact("4111111111111111 12 30") == "****1111 12 30"


def test_redact_values_walks_keys_values_and_lists() -> None:
    value = {"metadata": {"4111111111111111": ["a", "5500-0055-5555-5559"]}, "n": 4, "x": None}
    assert redact_values(value) == {"metadata": {"****1111": ["a", "****5559"]}, "n": 4, "x": None}


@settings(max_examples=300)
@given(PANS, FILLER, FILLER, BOUNDARY, BOUNDARY)
def test_a_luhn_valid_number_in_text_is_always_found(
    number: str, before: str, after: str, left: str, right: str
) -> None:
    text = before + left + number + right + after
    start = len(before) + len(left)
    assert any(s <= start and start + len(number) <= e for s, e in find(text))
    assert number not in redact(text)


@settings(max_examples=300)
@given(PANS, st.lists(st.integers(min_value=1, max_value=6), max_size=8), st.sampled_from(" -"))
def test_a_number_written_in_groups_is_found(number: str, sizes: list[int], sep: str) -> None:
    text = f"note: {grouped(number, sizes, sep)}."
    assert contains(text)
    assert number not in redact(text).replace(sep, "")


@settings(max_examples=300)
@given(st.text(alphabet="0123456789", min_size=13, max_size=19).filter(lambda d: not luhn_ok(d)))
def test_a_digit_run_failing_luhn_is_not_flagged(digits: str) -> None:
    assert find(f"ref {digits} ok") == []


@settings(max_examples=200)
@given(st.text(alphabet="0123456789", min_size=20, max_size=60))
def test_a_run_longer_than_a_card_is_not_flagged(digits: str) -> None:
    assert find(f"id={digits}") == []


@settings(max_examples=500)
@given(st.text(alphabet="0123456789 -x*", max_size=120))
def test_redaction_is_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once
    assert find(once) == []


def test_worst_case_input_is_linear() -> None:
    # A maximal request body of one-digit groups: every window of 13-19 digits is a candidate.
    text = " ".join("4" * 128_000)
    started = time.perf_counter()
    redact(text)
    assert time.perf_counter() - started < 3


def test_random_uuids_are_never_card_numbers() -> None:
    # uuid4 Idempotency-Keys (what the Stripe SDKs send) must not be refused as card numbers.
    assert not any(contains(str(uuid.uuid4())) for _ in range(20_000))
    assert not contains("41111111-1111-1111-1111-111111111111")
    assert not contains("key 41111111-1111-1111-1111-111111111111.")


def test_a_card_number_next_to_a_uuid_is_still_found() -> None:
    text = "order 6f1c2a3b-1d2e-4f50-8a9b-0c1d2e3f4a5b card 4111 1111 1111 1111"
    assert redact(text) == "order 6f1c2a3b-1d2e-4f50-8a9b-0c1d2e3f4a5b card ****1111"
