"""Stripe's error object, {"error": {"type", "code", "message", "param"?, "decline_code"?}}."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
import structlog
from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

JSON = "application/json"
log = structlog.get_logger()


class VaultError(Exception):
    """A request the vault refuses; raised before anything is stored."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        param: str | None = None,
        type_: str | None = None,
        decline_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.type = type_ or ("api_error" if status >= 500 else "invalid_request_error")
        self.decline_code = decline_code

    def body(self) -> dict[str, object]:
        error: dict[str, object] = {"type": self.type, "code": self.code, "message": self.message}
        if self.param is not None:
            error["param"] = self.param
        if self.decline_code is not None:
            error["decline_code"] = self.decline_code
        return {"error": error}

    def response(self) -> Response:
        return json_response(self.status, self.body())


def card_error(code: str, message: str, param: str, decline_code: str | None = None) -> VaultError:
    # Stripe answers card errors with 402.
    return VaultError(
        402, code, message, param=param, type_="card_error", decline_code=decline_code
    )


def invalid(code: str, message: str, param: str | None = None, status: int = 400) -> VaultError:
    return VaultError(status, code, message, param=param)


def json_response(
    status: int, body: Mapping[str, object], headers: Mapping[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON, headers=headers)


def install_handlers(app: FastAPI) -> None:
    """Every failure as Stripe's error object: a precise 4xx, or a 500 that says nothing more."""

    async def on_vault_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, VaultError)
        return exc.response()

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            message = f"Unrecognized request URL ({request.method}: {request.url.path})."
            return VaultError(404, "resource_missing", message).response()
        return VaultError(exc.status_code, "invalid_request", str(exc.detail)).response()

    async def on_unexpected(_: Request, exc: Exception) -> Response:
        # The redacting log processors keep card data out of the logged traceback.
        log.error("unhandled error", exc_info=exc)
        return VaultError(500, "internal_error", "An unexpected error occurred.").response()

    app.add_exception_handler(VaultError, on_vault_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
