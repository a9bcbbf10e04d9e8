"""The records the simulator keeps and the outcome every mutating operation produces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from psp_simulator.cards import Decline

Status = Literal["authorized", "captured", "voided", "declined"]
STATUSES: tuple[Status, ...] = ("authorized", "captured", "voided", "declined")


@dataclass(slots=True)
class Authorization:
    id: str
    merchant_reference: str
    amount: int
    currency: str
    status: Status
    captured_amount: int
    payment_method: str
    decline: Decline | None
    created: int

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "object": "authorization",
            "status": self.status,
            "amount": self.amount,
            "currency": self.currency,
            "captured_amount": self.captured_amount,
            "merchant_reference": self.merchant_reference,
            "payment_method": self.payment_method,
            "decline": None if self.decline is None else self.decline.to_json(),
            "created": self.created,
        }


class Outcome(NamedTuple):
    """The HTTP answer of an executed operation, stored verbatim for idempotent replays."""

    status_code: int
    body: dict[str, object]
