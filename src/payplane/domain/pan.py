"""Card numbers (PANs) in free text: find them and mask them.

A candidate is a run of ASCII digit groups joined by single spaces or dashes ("dddd dddd dddd
dddd", "dddd-dddd-dddd-dddd"), bounded by anything but a digit. Any stretch of whole groups of
that run holding 13 to 19 digits that passes the Luhn check is a card number: a card number
followed by an expiry ("dddd ... dddd 12 30") is found, and so is one after an order number. A
single group of more than 19 digits is a longer number (an id, an amount), not a card.

Digits inside a canonical UUID are never a card number. Redaction keeps the last four digits
("****dddd"), as Stripe shows a card; only ASCII digits are looked at.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from itertools import accumulate
from typing import Any

MIN_DIGITS = 13
MAX_DIGITS = 19

# Cheap test that rules out almost every text: 13 digits with at most one separator between two.
_PREFILTER = re.compile(r"[0-9](?:[ -]?[0-9]){12}")
_RUN = re.compile(r"(?<![0-9])[0-9]+(?:[ -][0-9]+)*")
_GROUP = re.compile(r"[0-9]+")
_GROUP_SEPARATORS = re.compile(r"[ -]")
_TAIL = re.compile(r"(?:[ -][0-9]+)+")
# Canonical UUIDs (8-4-4-4-12 hex) are ids whose digit groups often pass for a card number (a
# random uuid4, the usual Idempotency-Key, about once in ten thousand): never a card inside one.
_UUID = re.compile(
    r"(?<![0-9A-Za-z])[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}(?![0-9A-Za-z])"
)
# Luhn: every second digit from the right is doubled, and 10 or more counts as its digit sum.
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def find(text: str) -> list[tuple[int, int]]:
    """The (start, end) spans of the card numbers in `text`, left to right, not overlapping."""
    if _PREFILTER.search(text) is None:
        return []
    uuids = [match.span() for match in _UUID.finditer(text)]
    spans: list[tuple[int, int]] = []
    for run in _RUN.finditer(text):
        spans.extend(
            span
            for span in _spans_in_run(run)
            if not any(start <= span[0] and span[1] <= end for start, end in uuids)
        )
    return spans


def contains(text: str) -> bool:
    return bool(find(text))


def _spans_in_run(run: re.Match[str]) -> Iterator[tuple[int, int]]:
    groups = [(g.start() + run.start(), g.end() + run.start()) for g in _GROUP.finditer(run[0])]
    digits = [ord(c) - 48 for c in _GROUP_SEPARATORS.sub("", run[0])]
    if len(digits) < MIN_DIGITS:
        return
    # bounds[k]: where group k starts in `digits`; a window of whole groups is digits[a:b].
    bounds = [0, *accumulate(end - start for start, end in groups)]
    luhn_sum = _LuhnSums(digits)
    merged: tuple[int, int] | None = None
    for first in range(len(groups)):
        a = bounds[first]
        # Only windows of 13 to 19 digits; bisect keeps a run of many short groups linear.
        lo = bisect_left(bounds, a + MIN_DIGITS, first + 1)
        hi = bisect_right(bounds, a + MAX_DIGITS, lo)
        for end_bound in range(lo, hi):
            if luhn_sum(a, bounds[end_bound]) % 10:
                continue
            # Overlapping windows are masked as one, so no card number is left half shown.
            span = (groups[first][0], groups[end_bound - 1][1])
            if merged is not None and span[0] < merged[1]:
                merged = (merged[0], max(merged[1], span[1]))
            else:
                if merged is not None:
                    yield merged
                merged = span
    if merged is not None:
        yield merged


class _LuhnSums:
    """The Luhn sum of any digits[a:b] in constant time, from prefix sums per index parity."""

    def __init__(self, digits: list[int]) -> None:
        def prefix(parity: int, table: tuple[int, ...] | None) -> list[int]:
            values = (
                (table[d] if table else d) if i % 2 == parity else 0 for i, d in enumerate(digits)
            )
            return [0, *accumulate(values)]

        self._plain = (prefix(0, None), prefix(1, None))
        self._doubled = (prefix(0, _DOUBLED), prefix(1, _DOUBLED))

    def __call__(self, a: int, b: int) -> int:
        # Doubled are the digits at an odd distance from the last one, digits[b - 1].
        doubled, plain = self._doubled[b % 2], self._plain[1 - b % 2]
        return doubled[b] - doubled[a] + plain[b] - plain[a]


def redact(text: str) -> str:
    """`text` with each card number replaced by a mask keeping only its last four digits."""
    spans = find(text)
    if not spans:
        return text
    parts: list[str] = []
    cursor = 0
    for index, (start, end) in enumerate(spans):
        parts.append(text[cursor:start])
        parts.append("****" + _shown_digits(text, start, end, spans[index + 1 : index + 2]))
        cursor = end
    parts.append(text[cursor:])
    return "".join(parts)


def _shown_digits(text: str, start: int, end: int, following: list[tuple[int, int]]) -> str:
    """The last four digits, unless they could join the digit groups right after them into a
    new candidate: a second redaction would then change the text again."""
    stop = following[0][0] if following else len(text)
    tail = _TAIL.match(text, end, stop)
    joined = len(_GROUP_SEPARATORS.sub("", tail[0])) if tail else 0
    if 4 + joined >= MIN_DIGITS:
        return ""
    return _GROUP_SEPARATORS.sub("", text[start:end])[-4:]


def redact_values(value: Any, mask: Callable[[str], str] = redact) -> Any:
    """A JSON-like value (dicts, lists, strings) with every string, keys included, masked."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {
            mask(k) if isinstance(k, str) else k: redact_values(v, mask) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_values(v, mask) for v in value]
    return value
