"""What the simulated PSP charges per capture: one rate per product, set through /admin/fees."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt


class FeeRate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Basis points of the captured amount, plus a fixed part in minor units of its currency.
    bps: Annotated[StrictInt, Field(ge=0, le=10_000)]
    fixed: Annotated[StrictInt, Field(ge=0, le=1_000_000)]


class FeeSchedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    card: FeeRate = FeeRate(bps=140, fixed=25)
    wallet: FeeRate = FeeRate(bps=290, fixed=30)
    bank_redirect: FeeRate = FeeRate(bps=0, fixed=29)
    bank_debit: FeeRate = FeeRate(bps=0, fixed=35)

    def rate(self, product: str) -> FeeRate:
        rate = getattr(self, product)
        assert isinstance(rate, FeeRate), product
        return rate


def commission(amount: int, rate: FeeRate) -> int:
    """fixed + amount * bps / 10000 rounded half up, in integers only."""
    return rate.fixed + (amount * rate.bps + 5_000) // 10_000
