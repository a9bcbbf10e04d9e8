"""Payplane PSP simulator: a realistic external card PSP, run as its own process.

Start it with ``python -m psp_simulator`` (or ``psp-simulator``); embed it with
``create_app(Settings(...))``. It never imports payplane and is reached over HTTP only.

Configuration (environment, prefix ``PSP_SIMULATOR_``): HOST (127.0.0.1), PORT (8100),
API_KEY (psk_test_simulator), DB_PATH (.payplane/psp_simulator.sqlite3), LOG_LEVEL (info).

HTTP contract (JSON in and out)
===============================
Errors: ``{"error": {"type", "code", "message", "param"?}}``; type is ``invalid_request_error``
for 4xx and ``api_error`` for 5xx. Bad input (400 parameter_missing, parameter_unknown,
parameter_invalid, invalid_json, invalid_payment_method, incorrect_number) stores nothing.

/v1 requires ``Authorization: Bearer <API_KEY>`` (else 401 ``unauthorized``). Every POST requires
``Idempotency-Key`` (1-255 chars, else 400 ``idempotency_key_missing``/``_invalid``). An executed
operation stores its status code and body in the same transaction as its effects. The same key with
the same path and body (canonical JSON) replays the stored status and body byte for byte with
``Idempotent-Replayed: true``; with another path or body it is 409 ``idempotency_key_reused``.

POST /v1/authorizations
    ``{amount: int 1..99999999, currency: "usd" (3 lowercase letters), merchant_reference: str,
    capture: bool = false}`` plus exactly one of ``payment_method: "pm_card_..."`` or
    ``card: {number, exp_month, exp_year, cvc}``. Always 200, declines included::

        {"id": "psp_<hex>", "object": "authorization",
         "status": "authorized" | "captured" | "declined", "amount", "currency",
         "captured_amount", "merchant_reference", "payment_method",
         "decline": null | {"code", "decline_code", "message"}, "created": <unix seconds>}

    ``payment_method`` echoes the token, or ``card_<brand>_<last4>`` for raw card data.
    Test cards (tokens and numbers) follow Stripe's codes and messages; see ``cards.py``.
    Unknown tokens are 400 invalid_payment_method; a Luhn-invalid number is 400
    incorrect_number; any other Luhn-valid number succeeds unless its expiry has passed
    (declined ``expired_card``).
POST /v1/authorizations/{id}/capture  ``{amount?: int > 0}`` (default: the authorized amount)
    200 status captured; a partial capture releases the rest. 404 ``not_found``,
    409 ``invalid_state`` unless authorized, 400 ``amount_too_large``. These are stored outcomes.
POST /v1/authorizations/{id}/void  ``{}`` -> 200 status voided; 404 / 409 as for capture.
GET /v1/authorizations/{id}  the authorization object, or 404 ``not_found``.
GET /v1/operations/{idempotency_key}
    ``{"idempotency_key", "status_code", "response": <stored body>}`` or 404 ``not_found``:
    how a client resolves an unknown outcome after a timeout.
GET /healthz  ``{"status": "ok"}``, no auth.

Admin (no auth yet)
    GET|POST /admin/faults ``{latency_ms: 0, error_rate: 0, timeout_rate: 0,
    drop_response_rate: 0, hang_seconds: 30, paths: null | [path prefixes]}``; POST replaces the
    whole config; the three rates share one draw and must sum to <= 1. Faults hit only first
    executions of POST /v1 requests (matching ``paths``), never replays or GETs:
    error -> 503 ``service_unavailable`` and nothing applied; timeout -> hang, 504
    ``gateway_timeout``, nothing applied; drop_response -> applied and committed, then hang and 504.
    POST /admin/reset clears faults (not data). GET /admin/stats ->
    ``{"authorizations": {"total", "authorized", "captured", "voided", "declined"},
    "operations": n}``.
"""

from psp_simulator.app import create_app
from psp_simulator.settings import Settings

__all__ = ["Settings", "create_app"]
