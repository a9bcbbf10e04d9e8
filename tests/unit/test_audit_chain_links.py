"""The audit chain's pure part: canonical rows, links, and what verify says of a broken chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from payplane.domain.audit_chain import GENESIS, Problem, Seal, canonical, link, verify


def row(audit_id: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": audit_id,
        "xact_id": str(1000 + audit_id),
        "at": datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "actor": "api_key:key_1",
        "action": "payment_intent.create",
        "detail": {"b": 1, "a": [1, "ü"]},
        "reason": None,
        **extra,
    }


def chain(rows: list[dict[str, Any]]) -> list[Seal]:
    seals, prev = [], GENESIS
    for seq, r in enumerate(rows, start=1):
        seals.append(Seal(seq, r["id"], prev, link(prev, r), r))
        prev = seals[-1].hash
    return seals


def test_canonical_form_is_independent_of_time_zone_key_order_and_absent_nulls() -> None:
    r = row(1)
    in_paris = dict(reversed(list(r.items())))
    in_paris["at"] = r["at"].astimezone(timezone(timedelta(hours=1)))
    del in_paris["reason"]  # a nullable column added later: null rows hash as before
    assert canonical(in_paris) == canonical(r)
    assert canonical(row(1, reason="x")) != canonical(r)


def test_a_column_without_a_canonical_form_is_refused() -> None:
    with pytest.raises(TypeError, match="bytes"):
        canonical(row(1, blob=b"\x00"))


def test_an_intact_chain_has_no_findings() -> None:
    assert list(verify(chain([row(1), row(2), row(5)]))) == []


def test_each_kind_of_break_is_named_once() -> None:
    seals = chain([row(n) for n in range(1, 7)])
    seals[1] = Seal(2, 2, seals[1].prev_hash, seals[1].hash, row(2, actor="mallory"))
    seals[2] = Seal(3, 3, seals[2].prev_hash, seals[2].hash, None)
    del seals[4]  # seal 5
    found = [(f.problem, f.seq, f.audit_id) for f in verify(seals)]
    assert found == [
        (Problem.EDITED, 2, 2),
        (Problem.DELETED, 3, 3),
        (Problem.DELETED, 6, 6),  # "seal 5 is missing before it"
    ]


def test_rows_out_of_chain_order_are_reordered_even_with_valid_links() -> None:
    # Re-sealed by someone who recomputed the hashes but put row 3 before row 2.
    found = [(f.problem, f.seq) for f in verify(chain([row(1), row(3), row(2)]))]
    assert found == [(Problem.REORDERED, 3)]
