"""Per-request plumbing shared by the routers: who is calling, the decoded params, the key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from payplane.api.auth import Principal
from payplane.api.decoding import decode_body, decode_query
from payplane.api.errors import stripe_json
from payplane.domain.errors import InvalidRequest
from payplane.services.idempotency import RequestShape
from payplane.services.ports import ListQuery, Page, RequestContext
from payplane.services.responses import Response, fingerprint

MAX_IDEMPOTENCY_KEY_LENGTH = 255


async def _principal(request: Request) -> Principal:
    principal: Principal = await request.app.state.authenticate(request)
    return principal


Auth = Annotated[Principal, Depends(_principal)]


@dataclass(frozen=True, slots=True)
class Call:
    ctx: RequestContext
    params: dict[str, Any]
    shape: RequestShape


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not 0 < len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidRequest(
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters long.",
            code="idempotency_key_invalid",
        )
    return key


async def read_call(request: Request, principal: Principal) -> Call:
    if request.method == "GET":
        params = decode_query(request.url.query)
    else:
        params = decode_body(request.headers.get("content-type", ""), await request.body())
    ctx = RequestContext(
        merchant_id=principal.merchant_id,
        actor=f"api_key:{principal.key_id}",
        request_id=request.state.request_id,
        idempotency_key=_idempotency_key(request) if request.method == "POST" else None,
    )
    shape = RequestShape(
        request.method, request.url.path, fingerprint(request.method, request.url.path, params)
    )
    return Call(ctx, params, shape)


def respond(response: Response) -> Any:
    headers = {"Idempotent-Replayed": "true"} if response.replayed else None
    return stripe_json(response.status, response.body, headers)


def list_query(
    limit: int,
    starting_after: str | None,
    ending_before: str | None,
    created: Any,
    filters: dict[str, str | None],
) -> ListQuery:
    if starting_after and ending_before:
        raise InvalidRequest(
            "You may only specify one of these parameters: ending_before, starting_after.",
            code="parameter_invalid",
            param="ending_before",
        )
    if created is not None:
        created_ops = {k: v for k, v in created.model_dump().items() if v is not None}
    else:
        created_ops = {}
    return ListQuery(
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
        created=created_ops,
        filters={k: v for k, v in filters.items() if v is not None},
    )


def list_object(result: Page, url: str) -> Any:
    return stripe_json(
        200, {"object": "list", "data": result.data, "has_more": result.has_more, "url": url}
    )
