"""Application assembly: one store, the operator's controls, the /v1, /admin, hosted page and
health routes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response

from psp_simulator import admin, api, pages
from psp_simulator.errors import install_handlers, json_response
from psp_simulator.faults import FaultInjector
from psp_simulator.operations import OperationRunner
from psp_simulator.payment_methods import MethodTimingControl
from psp_simulator.refunds import RefundBehaviorControl
from psp_simulator.settings import Settings
from psp_simulator.store import Store
from psp_simulator.webhook_sender import WebhookSender, settle_due_continuously
from psp_simulator.webhooks import WebhookControl


def create_app(settings: Settings) -> FastAPI:
    # The store opens here rather than at startup so in-process ASGI clients, which do not run
    # lifespan events, get a working app.
    store = Store(settings.db_path)
    faults = FaultInjector()
    refund_behavior = RefundBehaviorControl()
    timing = MethodTimingControl(settings.action_timeout_seconds)
    webhooks = WebhookControl(settings.webhook_url, settings.webhook_secret)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Background work needs the lifespan: without it events are recorded but not sent, and
        # pending refunds and authorizations settle (and unanswered ones expire) only when read.
        tasks = [
            asyncio.create_task(WebhookSender(store, webhooks).run()),
            asyncio.create_task(settle_due_continuously(store)),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            store.close()

    app = FastAPI(title="Payplane PSP simulator", lifespan=lifespan)
    install_handlers(app)
    runner = OperationRunner(store, faults)
    app.include_router(
        api.build_router(
            settings.api_key, store, runner, refund_behavior, timing, settings.base_url
        )
    )
    app.include_router(
        admin.build_router(store, faults, refund_behavior, webhooks, settings.dispute_fee, timing)
    )
    app.include_router(pages.build_router(store))

    @app.get("/healthz")
    async def healthz() -> Response:
        return json_response(200, {"status": "ok"})

    return app
