"""The exception tree every layer raises and the API edge maps to Stripe's error object.

PayplaneError                      base; carries Stripe's `type`, `code`, `param`, `message`
├── InvalidRequest                 invalid_request_error, HTTP 400
│   ├── InvalidAmount              a bad amount (param names the field)
│   ├── UnsupportedCurrency        not an active ISO 4217 code
│   ├── UnexpectedState            the object's status does not allow the action
│   └── PspRefused                 the PSP refused a capture or void of an authorization
├── ResourceMissing                unknown id, or an id of another merchant (HTTP 404)
├── AuthenticationFailed           missing or invalid API key (HTTP 401)
├── PermissionDenied               a permission the caller lacks, or self-approval (HTTP 403)
├── CardError                      a decline by the issuer (HTTP 402)
├── IdempotencyError               key reused with other parameters (HTTP 400)
│   └── IdempotencyKeyInUse        the first request with this key is still running (HTTP 409)
└── PspUnavailable                 the PSP could not be reached; nothing was charged (HTTP 502)
"""

from __future__ import annotations


class PayplaneError(Exception):
    type = "api_error"
    http_status = 500

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        self.decline_code = decline_code


class InvalidRequest(PayplaneError):
    type = "invalid_request_error"
    http_status = 400


class InvalidAmount(InvalidRequest):
    def __init__(
        self, param: str, message: str, *, code: str = "parameter_invalid_integer"
    ) -> None:
        super().__init__(message, code=code, param=param)


class UnsupportedCurrency(InvalidRequest):
    def __init__(self, currency: str) -> None:
        super().__init__(
            f"Invalid currency: {currency.lower()}. Payplane accepts active ISO 4217 codes.",
            code="parameter_invalid_string",
            param="currency",
        )


class UnexpectedState(InvalidRequest):
    def __init__(
        self,
        message: str,
        *,
        code: str = "payment_intent_unexpected_state",
        param: str | None = None,
    ) -> None:
        super().__init__(message, code=code, param=param)


class PspRefused(InvalidRequest):
    pass


class ResourceMissing(PayplaneError):
    type = "invalid_request_error"
    http_status = 404

    def __init__(self, resource: str, object_id: str, *, param: str = "id") -> None:
        super().__init__(f"No such {resource}: '{object_id}'", code="resource_missing", param=param)


class AuthenticationFailed(PayplaneError):
    type = "invalid_request_error"
    http_status = 401


class PermissionDenied(PayplaneError):
    type = "invalid_request_error"
    http_status = 403


class CardError(PayplaneError):
    type = "card_error"
    http_status = 402


class IdempotencyError(PayplaneError):
    type = "idempotency_error"
    http_status = 400


class IdempotencyKeyInUse(IdempotencyError):
    http_status = 409


class PspUnavailable(PayplaneError):
    type = "api_error"
    http_status = 502
