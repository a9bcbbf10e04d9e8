"""POST /psp-webhooks/{connector}: the PSPs' webhooks, verified and stored, answered at once.

Not under /v1 and without API keys: the signature over the raw body is the authentication. The
body is read raw and handed over untouched, since a re-encoded body would not verify.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from payplane.api.errors import stripe_json
from payplane.services import inbox

router = APIRouter(prefix="/psp-webhooks", tags=["psp webhooks"], include_in_schema=False)


@router.post("/{connector}")
async def receive(connector: str, request: Request) -> Any:
    container = request.app.state.container
    duplicate = await inbox.receive(
        container.uow, container.psp_webhooks, connector, await request.body(), request.headers
    )
    return stripe_json(200, {"received": True, "duplicate": duplicate})
