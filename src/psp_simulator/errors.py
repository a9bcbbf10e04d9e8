"""The simulator's error object, shaped like Stripe's: {"error": {"type", "code", "message"}}."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from fastapi import FastAPI, Request, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException

JSON = "application/json"
_HTTP_ERROR_CODES = {404: "not_found", 405: "method_not_allowed"}


def error_body(
    status_code: int, code: str, message: str, param: str | None = None
) -> dict[str, object]:
    error: dict[str, object] = {
        "type": "api_error" if status_code >= 500 else "invalid_request_error",
        "code": code,
        "message": message,
    }
    if param is not None:
        error["param"] = param
    return {"error": error}


def json_response(
    status_code: int, body: Mapping[str, object], headers: Mapping[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(body), status_code=status_code, media_type=JSON, headers=headers)


class ApiError(Exception):
    """A request the simulator refuses before anything is stored."""

    def __init__(self, status_code: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.param = param

    def response(self) -> Response:
        return json_response(
            self.status_code, error_body(self.status_code, self.code, self.message, self.param)
        )


def from_validation_error(exc: ValidationError) -> ApiError:
    """Report the first problem with Stripe's bracketed param names, e.g. card[exp_month]."""
    first = exc.errors(include_url=False, include_input=False)[0]
    location = [str(part) for part in first["loc"]]
    param = location[0] + "".join(f"[{part}]" for part in location[1:]) if location else None
    if first["type"] == "missing":
        return ApiError(400, "parameter_missing", f"Missing required param: {param}.", param)
    if first["type"] == "extra_forbidden":
        return ApiError(400, "parameter_unknown", f"Received unknown parameter: {param}.", param)
    # Pydantic prefixes errors raised from validators with "Value error, ".
    message = first["msg"].removeprefix("Value error, ")
    if param is not None:
        message = f"Invalid {param}: {message}"
    return ApiError(400, "parameter_invalid", message, param)


def install_handlers(app: FastAPI) -> None:
    async def on_api_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return exc.response()

    async def on_http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = _HTTP_ERROR_CODES.get(exc.status_code, "invalid_request")
        return ApiError(exc.status_code, code, str(exc.detail)).response()

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(HTTPException, on_http_error)
