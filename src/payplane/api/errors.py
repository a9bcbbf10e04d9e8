"""Maps every failure to Stripe's error object, so bad input never surfaces as a 500."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from payplane.domain.errors import InvalidRequest, PayplaneError
from payplane.services.responses import error_body

log = structlog.get_logger()
ModelT = TypeVar("ModelT", bound=BaseModel)


def stripe_json(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type="application/json"
    )


def _param(loc: tuple[int | str, ...]) -> str:
    head, *rest = [str(part) for part in loc] or ["body"]
    return head + "".join(f"[{part}]" for part in rest)


def _to_invalid_request(error: dict[str, Any]) -> InvalidRequest:
    loc = tuple(part for part in error["loc"] if not str(part).startswith(("function-", "literal")))
    param = _param(loc)
    kind = error["type"]
    if kind == "missing":
        return InvalidRequest(
            f"Missing required param: {param}.", code="parameter_missing", param=param
        )
    if kind == "extra_forbidden":
        return InvalidRequest(
            f"Received unknown parameter: {param}", code="parameter_unknown", param=param
        )
    given = error.get("input")
    shown = given if isinstance(given, str | int | float | bool) else type(given).__name__
    message = error["msg"].removeprefix("Value error, ")
    code = "parameter_invalid_integer" if "integer" in message else "parameter_invalid"
    return InvalidRequest(f"Invalid {param}: {shown!r} - {message}", code=code, param=param)


def parse(model: type[ModelT], params: dict[str, Any]) -> ModelT:
    """Validate decoded params; the first problem becomes a Stripe invalid_request_error."""
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise _to_invalid_request(dict(exc.errors()[0])) from None


def install(app: FastAPI) -> None:
    @app.exception_handler(PayplaneError)
    async def payplane_error(_request: Request, exc: PayplaneError) -> Response:
        return stripe_json(exc.http_status, error_body(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> Response:
        error = _to_invalid_request(dict(exc.errors()[0]))
        return stripe_json(error.http_status, error_body(error))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        error = InvalidRequest(
            f"Unrecognized request URL ({request.method}: {request.url.path})."
            if exc.status_code == 404
            else str(exc.detail),
            code="resource_missing" if exc.status_code == 404 else None,
        )
        return stripe_json(exc.status_code, error_body(error))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, _exc: Exception) -> Response:
        request_id = getattr(request.state, "request_id", None)
        log.exception("unhandled error", request_id=request_id)
        error = PayplaneError(
            f"An unexpected error occurred (request {request_id}). Nothing was charged twice; "
            "retry with the same Idempotency-Key."
        )
        return stripe_json(500, error_body(error))
