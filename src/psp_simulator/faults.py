"""Fault injection: the ways a real PSP misbehaves, switched on at runtime through /admin/faults."""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

Rate = Annotated[float, Field(ge=0.0, le=1.0)]


class FaultConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_ms: Annotated[StrictInt, Field(ge=0, le=600_000)] = 0
    error_rate: Rate = 0.0
    timeout_rate: Rate = 0.0
    drop_response_rate: Rate = 0.0
    hang_seconds: Annotated[float, Field(ge=0.0, le=3600.0)] = 30.0
    paths: list[Annotated[str, Field(pattern=r"^/")]] | None = None

    @model_validator(mode="after")
    def _rates_partition_one_draw(self) -> FaultConfig:
        # One uniform draw is split between the faults, so each rate holds exactly as configured.
        if self.error_rate + self.timeout_rate + self.drop_response_rate > 1.0:
            raise ValueError("error_rate + timeout_rate + drop_response_rate must not exceed 1.")
        return self


class Fault(enum.Enum):
    NONE = "none"
    # 503 before anything is applied.
    ERROR = "error"
    # Hang, then 504 without applying: the caller times out and nothing happened.
    TIMEOUT = "timeout"
    # Apply and commit, then hang and 504: the caller times out although the PSP did it.
    DROP_RESPONSE = "drop_response"


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """What to do to one request, fixed at its start so a config change mid-request is harmless."""

    latency_seconds: float
    fault: Fault
    hang_seconds: float


_NO_FAULT = FaultPlan(0.0, Fault.NONE, 0.0)


class FaultInjector:
    def __init__(self) -> None:
        self.config = FaultConfig()

    def reset(self) -> None:
        self.config = FaultConfig()

    def plan(self, path: str) -> FaultPlan:
        config = self.config
        if config.paths is not None and not path.startswith(tuple(config.paths)):
            return _NO_FAULT
        draw = random.random()  # noqa: S311 - fault injection, not security
        fault = Fault.NONE
        if draw < config.error_rate:
            fault = Fault.ERROR
        elif draw < config.error_rate + config.timeout_rate:
            fault = Fault.TIMEOUT
        elif draw < config.error_rate + config.timeout_rate + config.drop_response_rate:
            fault = Fault.DROP_RESPONSE
        return FaultPlan(config.latency_ms / 1000, fault, config.hang_seconds)
