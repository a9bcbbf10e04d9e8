"""The API process: FastAPI app factory with the /v1 routers, health and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from payplane.api import (
    approval_requests,
    balance,
    disputes,
    errors,
    events,
    ledger,
    operators,
    payment_intents,
    payment_methods,
    psp_webhooks,
    reconciliation,
    redirects,
    refunds,
    restricted_keys,
    webhook_endpoints,
)
from payplane.api.auth import Authenticator
from payplane.api.errors import stripe_json
from payplane.api.request_ids import RequestIdMiddleware
from payplane.config import Settings, get_settings
from payplane.logging import configure_logging
from payplane.wiring import build


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # Again here: uvicorn's extra worker processes (PAYPLANE_API_WORKERS > 1) only run this.
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = await build(settings)
        app.state.container = container
        app.state.payment_intents = container.payment_intents
        app.state.events = container.events
        app.state.refunds = container.refunds
        app.state.disputes = container.disputes
        app.state.balances = container.balances
        app.state.webhook_endpoints = container.webhook_endpoints
        app.state.authenticate = Authenticator(
            container.api_keys,
            cache_seconds=settings.auth_cache_seconds,
            operator_token=settings.operator_token,
        )
        try:
            yield
        finally:
            await container.aclose()

    app = FastAPI(title="Payplane API", version="0.1.0", lifespan=lifespan)
    errors.install(app)

    app.add_middleware(RequestIdMiddleware)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Any:
        return stripe_json(200, {"status": "ok"})

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> Any:
        try:
            async with request.app.state.container.pool.connection(timeout=2) as conn:
                await conn.execute("SELECT 1")
        except Exception as exc:
            return stripe_json(503, {"status": "unavailable", "database": type(exc).__name__})
        return stripe_json(200, {"status": "ok", "database": "ok"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(payment_intents.router)
    app.include_router(payment_methods.router)
    app.include_router(refunds.router)
    app.include_router(disputes.router)
    app.include_router(events.router)
    app.include_router(balance.router)
    app.include_router(ledger.router)
    app.include_router(psp_webhooks.router)
    app.include_router(redirects.router)
    app.include_router(webhook_endpoints.router)
    app.include_router(restricted_keys.router)
    app.include_router(operators.router)
    app.include_router(approval_requests.router)
    app.include_router(reconciliation.runs)
    app.include_router(reconciliation.items)
    return app
