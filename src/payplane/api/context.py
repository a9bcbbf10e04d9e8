"""Per-request plumbing shared by the routers: the decoded params, the key, who is calling
(authenticated and authorized by the route's permission dependency, api/access.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from payplane.api.card_numbers import refuse_card_numbers
from payplane.api.decoding import decode_body, decode_query
from payplane.api.errors import stripe_json
from payplane.domain.access import Principal
from payplane.domain.errors import InvalidRequest
from payplane.services.approvals import INTERNAL_KEY_PREFIX
from payplane.services.idempotency import RequestShape
from payplane.services.ports import ListQuery, Page, RequestContext
from payplane.services.responses import Response, fingerprint

MAX_IDEMPOTENCY_KEY_LENGTH = 255


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
    if key.startswith(INTERNAL_KEY_PREFIX):
        raise InvalidRequest(
            f"Idempotency-Key may not start with '{INTERNAL_KEY_PREFIX}': Payplane uses such "
            "keys itself.",
            code="idempotency_key_invalid",
        )
    return key


async def read_call(request: Request, principal: Principal) -> Call:
    if request.method == "GET":
        params = decode_query(request.url.query)
    else:
        params = decode_body(request.headers.get("content-type", ""), await request.body())
    refuse_card_numbers(request, params)
    ctx = RequestContext(
        merchant_id=principal.merchant_id,
        actor=principal.actor,
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
