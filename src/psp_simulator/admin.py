"""Operator controls for tests and chaos runs: faults and counters. Not part of the PSP's API."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from psp_simulator.errors import from_validation_error, json_response
from psp_simulator.faults import FaultConfig, FaultInjector
from psp_simulator.store import Store


def build_router(store: Store, faults: FaultInjector) -> APIRouter:
    router = APIRouter(prefix="/admin")

    @router.get("/faults")
    async def get_faults() -> Response:
        return json_response(200, faults.config.model_dump())

    @router.post("/faults")
    async def set_faults(request: Request) -> Response:
        # Replaces the whole configuration: omitted fields go back to their defaults.
        try:
            faults.config = FaultConfig.model_validate_json(await request.body() or b"{}")
        except ValidationError as exc:
            raise from_validation_error(exc) from None
        return json_response(200, faults.config.model_dump())

    @router.post("/reset")
    async def reset() -> Response:
        faults.reset()
        return json_response(200, faults.config.model_dump())

    @router.get("/stats")
    async def stats() -> Response:
        return json_response(200, store.stats())

    return router
