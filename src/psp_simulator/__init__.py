"""Payplane PSP simulator: a realistic external card PSP, run as its own process.

Start it with ``python -m psp_simulator`` (or ``psp-simulator``); embed it with
``create_app(Settings(...))``. It never imports payplane and is reached over HTTP only.

Configuration (environment, prefix ``PSP_SIMULATOR_``): HOST (127.0.0.1), PORT (8100),
API_KEY (psk_test_simulator), DB_PATH (.payplane/psp_simulator.sqlite3), LOG_LEVEL (info),
DISPUTE_FEE (1500, minor units of the disputed currency), WEBHOOK_URL (unset: events are recorded,
not sent), WEBHOOK_SECRET (``whsec_`` + base64 of b"payplane-simulator-webhook-secret!", a fixed dev
default; any ``whsec_`` + base64 of 24..64 bytes).

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
POST /v1/authorizations/{id}/refunds  ``{amount?: int > 0}`` (default: what is left to refund) ->
    200 ``{"id": "psr_<hex>", "object": "refund", "authorization", "amount", "currency",
    "status": "pending" | "succeeded" | "failed" | "canceled", "failure_reason": null |
    "insufficient_funds", "created"}``, failed ones included. 404 ``not_found``; 409
    ``invalid_state`` unless captured; 400 ``amount_too_large`` if pending and succeeded refunds
    plus this one would exceed captured_amount (or nothing is left). These are stored outcomes.
    How a new refund behaves is set by /admin/refund_behavior; a pending one settles lazily: every
    read of or action on refunds (GET, cancel, create, stats) first applies the final status of
    those whose delay has passed. A replay keeps answering the status given at creation.
GET /v1/refunds/{id}  the refund as it stands now, or 404 ``not_found``.
POST /v1/refunds/{id}/cancel  ``{}`` -> 200 status canceled; 409 ``invalid_state`` unless pending.
GET /v1/disputes?changed_after=0&limit=100 (1..100)
    ``{"object": "list", "data": [disputes with change_seq > changed_after, by change_seq],
    "has_more"}``. Every change to a dispute (opening, status, evidence, close) gives it the next
    ``change_seq`` of one global counter, so polling from the last one seen yields each dispute's
    latest state once, in order. A dispute::

        {"id": "psd_<hex>", "object": "dispute", "authorization", "merchant_reference", "amount",
         "currency", "reason", "status", "fee", "evidence": {str: str}, "evidence_submitted",
         "evidence_due_by": <created + 7 days>, "created", "change_seq"}

    Status follows Stripe: an inquiry is ``warning_needs_response`` -> ``warning_under_review``
    -> ``warning_closed`` (or straight to closed), and may escalate to ``needs_response`` (a
    chargeback: fee charged, evidence_submitted reset, a new 7-day window); a chargeback is
    ``needs_response`` -> ``under_review`` -> ``won`` | ``lost`` (or straight to won/lost).
    ``won``, ``lost`` and ``warning_closed`` never change again.
GET /v1/disputes/{id}  the dispute, or 404 ``not_found``.
POST /v1/disputes/{id}/evidence  ``{evidence: {str: str} (<= 20 keys, values <= 20000 chars) = {},
    submit: bool = false}`` merges the evidence; submit sets evidence_submitted and moves
    ``(warning_)needs_response`` to ``(warning_)under_review``. 409 ``invalid_state`` if closed,
    or on submit while under review.
POST /v1/disputes/{id}/close  ``{}``: the merchant accepts; ``needs_response``/``under_review`` ->
    ``lost``, ``warning_*`` -> ``warning_closed``; 409 ``invalid_state`` if closed.
GET /v1/operations/{idempotency_key}
    ``{"idempotency_key", "status_code", "response": <stored body>}`` or 404 ``not_found``:
    how a client resolves an unknown outcome after a timeout.
GET /healthz  ``{"status": "ok"}``, no auth.

Admin (no auth yet, no Idempotency-Key)
    GET|POST /admin/faults ``{latency_ms: 0, error_rate: 0, timeout_rate: 0,
    drop_response_rate: 0, hang_seconds: 30, paths: null | [path prefixes]}``; POST replaces the
    whole config; the three rates share one draw and must sum to <= 1. Faults hit only first
    executions of POST /v1 requests (matching ``paths``), never replays or GETs:
    error -> 503 ``service_unavailable`` and nothing applied; timeout -> hang, 504
    ``gateway_timeout``, nothing applied; drop_response -> applied and committed, then hang and 504.
    GET|POST /admin/refund_behavior ``{mode: "succeed" | "pending_then_succeed" |
    "pending_then_fail" | "fail" = "succeed", delay_seconds: 2.0}``; POST replaces it, for refunds
    created from then on. fail (and pending_then_fail once due) means failure_reason
    insufficient_funds: the merchant's balance at the PSP cannot cover the refund.
    POST /admin/disputes ``{authorization, amount?: int > 0 (default captured_amount),
    reason: Stripe's reasons = "fraudulent", inquiry: bool = false}`` -> 200 the dispute, status
    ``needs_response`` with the fee, or ``warning_needs_response`` with fee 0 for an inquiry;
    404 / 409 unless captured / 400 ``amount_too_large`` above captured_amount.
    POST /admin/disputes/{id}/status ``{status}`` -> 200 the dispute, or 409 ``invalid_state`` for
    a move Stripe's lifecycle does not allow.
    POST /admin/reset clears faults, refund behaviour and webhook faults (not data, not the webhook
    URL or secret) and answers the fault config.
    GET /admin/stats -> ``{"authorizations": {"total", "authorized", "captured", "voided",
    "declined"}, "operations": n, "refunds": {"total", <status>: n...},
    "disputes": {"total", <status>: n...}}``.
    GET|POST /admin/webhooks ``{url: str (http[s]://...) | null, secret: "whsec_..."}``; POST
    changes the fields given (null url stops delivery) and answers ``{"url", "secret_set": true}``,
    as GET does: the secret is never shown. A new secret signs every send from then on.
    GET|POST /admin/webhook_faults ``{duplicate_rate: 0, reorder: false, delay_ms: 0,
    drop_rate: 0}``; POST replaces it. drop (drawn first, per attempt) marks the event delivered
    without sending it; duplicate sends a delivered event once more with the same webhook-id;
    reorder holds events and releases shuffled batches of up to 10 every 0.5 s; delay_ms waits
    before each send.
    GET /admin/webhooks/stats -> ``{"pending", "delivered" (2xx), "dropped", "duplicates_sent",
    "attempts" (sends other than duplicates)}``; POST /admin/webhooks/flush?timeout=10 (0..600)
    waits until nothing is pending or the timeout passes, then answers the stats. Neither settles
    refunds: the sweeper does.

Webhooks (Standard Webhooks)
============================
Every committed change enqueues one event in the transaction that makes it (table
``webhook_events``; stored failures, replays and rolled-back work enqueue nothing)::

    {"id": "evt_psp_<hex>", "type", "created": <unix seconds>, "data": {...}}

``authorization.succeeded`` (authorized), ``.captured`` (by a capture, or authorize with capture),
``.failed`` (declined), ``.voided``: data is the authorization plus ``idempotency_key`` (of the
operation that made the change) and ``operation``: ``authorize`` | ``capture`` | ``void``.
``refund.pending`` | ``.succeeded`` | ``.failed`` (each at creation), ``.succeeded`` | ``.failed``
again when a pending one settles, ``.canceled``: data is the refund plus ``idempotency_key``, of
the create call (also for settlements) or of the cancel call. A sweeper settles due refunds every
0.2 s, so their events do not wait for a read. ``chargeback.opened`` (disputes and inquiries),
``.won``, ``.lost``, ``.closed`` (warning_closed), ``.updated`` (any other change: status,
evidence): data is the dispute (with change_seq). The lifespan's sender POSTs each pending event's
JSON body, oldest first, up to 8 at a time, to the URL with ``webhook-id`` (the event id, the same
on every retry), ``webhook-timestamp``, ``webhook-signature`` (``v1,<base64>``, signed at send
time with the current secret) and ``Content-Type: application/json``, timeout 5 s. Only 2xx
delivers; anything else is retried forever after 0.2 s, doubling up to 30 s. The outbox is in
sqlite, so a restart resumes delivery. Without the lifespan (in-process ASGI clients) events are
recorded, not sent.
"""

from psp_simulator.app import create_app
from psp_simulator.settings import Settings

__all__ = ["Settings", "create_app"]
