"""The audit trail's hash chain: how a row is sealed, and what a broken chain says.

Seal n holds hash_n = sha256(hash_{n-1} || canonical(row)), hash_0 being 32 zero bytes; the
canonical form covers every column of the audit row. Recomputing the chain therefore shows an
edited row (its hash differs), a deleted one (its seal is left without a row, or seals are
missing) and a reordered one (a seal's prev_hash is not its predecessor's hash, or the rows are
out of chain order). A chain rewritten from scratch by someone who can write both tables is not
detectable from the database alone: compare the head hash with one recorded elsewhere.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

GENESIS = bytes(32)


def canonical(row: Mapping[str, Any]) -> bytes:
    """Every non-null column, keys sorted, timestamps in UTC. Leaving out nulls keeps rows
    sealed before a nullable column was added verifiable after it was."""
    values = {name: _plain(value) for name, value in row.items() if value is not None}
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, str | int | float | bool | dict | list):
        return value
    # A column of a new type must be given a canonical form here before rows carry it.
    raise TypeError(f"no canonical form for an audit column of type {type(value).__name__}")


def link(prev_hash: bytes, row: Mapping[str, Any]) -> bytes:
    return hashlib.sha256(prev_hash + canonical(row)).digest()


def order_key(row: Mapping[str, Any]) -> tuple[int, int]:
    """Chain order: the writing transaction's id, then the row id."""
    return int(row["xact_id"]), int(row["id"])


@dataclass(frozen=True, slots=True)
class Seal:
    seq: int
    audit_id: int
    prev_hash: bytes
    hash: bytes
    row: Mapping[str, Any] | None  # None: the audit row is gone


class Problem(StrEnum):
    EDITED = "edited"
    DELETED = "deleted"
    REORDERED = "reordered"
    INSERTED = "inserted"  # an unsealed row behind the chain head: slipped in after the fact


@dataclass(frozen=True, slots=True)
class Finding:
    problem: Problem
    seq: int | None  # the seal, if the row has one
    audit_id: int | None
    detail: str


def verify(seals: Iterable[Seal]) -> Iterator[Finding]:
    """Findings along `seals` in seq order: missing seals, then each row's gravest problem."""
    expected_seq, prev_hash, prev_key = 1, GENESIS, (0, 0)
    for seal in seals:
        if seal.seq != expected_seq:
            gone = (
                f"seal {expected_seq} is"
                if seal.seq == expected_seq + 1
                else (f"seals {expected_seq}-{seal.seq - 1} are")
            )
            yield Finding(Problem.DELETED, seal.seq, seal.audit_id, f"{gone} missing before it")
        finding = _check_row(seal, prev_hash if seal.seq == expected_seq else None, prev_key)
        if finding is not None:
            yield finding
        if seal.row is not None:
            prev_key = order_key(seal.row)
        # Carry on from the stored hash, so one tampered row is reported once, not onwards.
        expected_seq, prev_hash = seal.seq + 1, seal.hash


def _check_row(seal: Seal, prev_hash: bytes | None, prev_key: tuple[int, int]) -> Finding | None:
    """prev_hash: the predecessor's hash, None when the predecessor is missing."""
    if seal.row is None:
        return Finding(Problem.DELETED, seal.seq, seal.audit_id, "the sealed audit row is gone")
    if link(seal.prev_hash, seal.row) != seal.hash:
        return Finding(
            Problem.EDITED, seal.seq, seal.audit_id, "the row differs from what was sealed"
        )
    if prev_hash is not None and seal.prev_hash != prev_hash:
        return Finding(
            Problem.REORDERED,
            seal.seq,
            seal.audit_id,
            f"it was not sealed right after seal {seal.seq - 1} (prev_hash differs)",
        )
    if order_key(seal.row) <= prev_key:
        return Finding(
            Problem.REORDERED,
            seal.seq,
            seal.audit_id,
            "its row comes before the previous seal's row in chain order",
        )
    return None
