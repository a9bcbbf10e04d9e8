"""Payplane PSP simulator: a realistic external PSP, run as its own process.

It sells four products: cards (with 3-D Secure challenges), a PayPal-like wallet, an iDEAL-like
bank redirect and a SEPA-like direct debit; the customer answers on server-rendered hosted pages.

Start it with ``python -m psp_simulator`` (or ``psp-simulator``); embed it with
``create_app(Settings(...))``. It never imports payplane and is reached over HTTP only.

Configuration (environment, prefix ``PSP_SIMULATOR_``): HOST (127.0.0.1), PORT (8100),
API_KEY (psk_test_simulator), DB_PATH (.payplane/psp_simulator.sqlite3), LOG_LEVEL (info),
DISPUTE_FEE (1500, minor units of the disputed currency), WEBHOOK_URL (unset: events are recorded,
not sent), WEBHOOK_SECRET (``whsec_`` + base64 of b"payplane-simulator-webhook-secret!", a fixed dev
default; any ``whsec_`` + base64 of 24..64 bytes), PUBLIC_URL (where browsers reach the simulator,
the base of hosted page URLs; default ``http://{HOST}:{PORT}``), ACTION_TIMEOUT_SECONDS (3600: how
long a payment waits for its customer; see /admin/method_timing).

HTTP contract (JSON in and out)
===============================
Errors: ``{"error": {"type", "code", "message", "param"?}}``; type is ``invalid_request_error``
for 4xx and ``api_error`` for 5xx. Bad input (400 parameter_missing, parameter_unknown,
parameter_invalid, invalid_json, invalid_payment_method, incorrect_number, currency_not_supported,
capture_not_supported) stores nothing.

/v1 requires ``Authorization: Bearer <API_KEY>`` (else 401 ``unauthorized``). Every POST requires
``Idempotency-Key`` (1-255 chars, else 400 ``idempotency_key_missing``/``_invalid``). An executed
operation stores its status code and body in the same transaction as its effects. The same key with
the same path and body (canonical JSON) replays the stored status and body byte for byte with
``Idempotent-Replayed: true``; with another path or body it is 409 ``idempotency_key_reused``.

POST /v1/authorizations (product card), /v1/wallet_payments (wallet), /v1/bank_redirects
(bank_redirect), /v1/direct_debits (bank_debit)
    ``{amount: int 1..99999999, currency: "usd" (3 lowercase letters), merchant_reference: str,
    capture: bool = false, return_url?: str}`` plus exactly one of ``payment_method: "pm_..."``
    or (cards only) ``card: {number, exp_month, exp_year, cvc?}`` (cvc is optional: a saved
    card's later charges carry none). ``return_url`` is an absolute http(s) URL with a host,
    printable ASCII, <= 2048 chars (else 400 parameter_invalid). Always 200, declines included::

        {"id": "psp_<hex>", "object": "authorization", "status", "product": "card" | "wallet" |
         "bank_redirect" | "bank_debit", "amount", "currency", "captured_amount",
         "merchant_reference", "payment_method",
         "decline": null | {"code", "decline_code", "message"},
         "next_action": null | {"type": "redirect", "url": "<PUBLIC_URL>/pages/<kind>/<id>"},
         "expires_at": null | <unix seconds>, "created": <unix seconds>}

    ``next_action`` and ``expires_at`` are set only while the status is requires_action;
    expires_at is rounded up, so from then on the payment is surely declined.
    Statuses: ``requires_action`` (waiting for the customer on the hosted page of kind ``3ds``,
    ``wallet`` or ``bank``), ``pending`` (accepted; the bank answers later), ``authorized``,
    ``captured``, ``voided``, ``declined``. Moves: requires_action -> authorized | captured |
    declined | pending (bank redirect approved) | voided (void while waiting); pending ->
    captured | declined (when the bank settles); authorized -> captured | voided.
    ``payment_method`` echoes the token, or ``card_<brand>_<last4>`` for raw card data.
    A token of another product, or card data on another endpoint, is 400 invalid_payment_method
    (param payment_method, or card), as is an unknown token.

    card: test cards (tokens and numbers) follow Stripe's codes and messages; see ``cards.py``.
    A Luhn-invalid number is 400 incorrect_number; any other Luhn-valid number succeeds unless
    its expiry has passed (declined ``expired_card``). ``pm_card_authenticationRequired`` /
    4000002760003184 and ``pm_card_threeDSecure2Required`` / 4000000000003220 need a challenge
    (3ds page): approve -> authorized (captured if capture), fail -> declined.
    ``pm_card_authenticationRequiredChargeDeclinedInsufficientFunds`` / 4000008400001629: a
    challenge, then approve -> declined card_declined / insufficient_funds. return_url optional.
    wallet: ``pm_paypal`` (approve -> authorized, or captured if capture) and
    ``pm_paypal_declined`` (approve -> declined ``wallet_declined`` / ``wallet_declined``, "The
    wallet provider declined the payment."). Currencies usd, eur, gbp (else 400
    currency_not_supported, param currency); return_url required (400 parameter_missing).
    bank_redirect: ``pm_ideal``; eur only; capture must be true (400 capture_not_supported, param
    capture); return_url required. Approve -> pending, then captured after
    bank_redirect_settle_seconds; fail -> declined ``bank_declined`` / ``bank_declined``, "The
    customer's bank declined the payment."
    bank_debit: ``pm_sepa_debit`` (pending, then captured after bank_debit_settle_seconds) and
    ``pm_sepa_debit_fails`` (pending, then declined ``debit_failed`` / ``insufficient_funds``,
    "The debit was returned by the customer's bank: insufficient funds."). eur only; capture
    must be true; no page; return_url accepted and ignored.
    A page's fail button declines with ``authentication_failed`` / ``authentication_failed``
    (3ds: "The customer failed authentication."; wallet: "The customer canceled the payment at
    the wallet."). A payment still requires_action at expires_at is declined by the simulator
    itself: ``authentication_failed`` / ``authentication_failed``, "The customer did not
    complete the required action in time."
POST /v1/authorizations/{id}/capture  ``{amount?: int > 0}`` (default: the authorized amount)
    200 status captured; a partial capture releases the rest. 404 ``not_found``,
    409 ``invalid_state`` unless authorized or for products bank_redirect and bank_debit (captured
    automatically), 400 ``amount_too_large``. These are stored outcomes.
POST /v1/authorizations/{id}/void  ``{}`` -> 200 status voided, from authorized or
    requires_action (the page then refuses completion); 404 / 409 (from any other status,
    pending included) as for capture.
POST /v1/authorizations/{id}/expire  ``{}`` -> 200: a requires_action payment is declined as
    expired (above); in any other status the authorization, unchanged, so the caller can apply
    the real state. 404 ``not_found``. Stored outcomes, like every POST.
GET /v1/authorizations/{id}  the authorization as it stands now, or 404 ``not_found``.
    Like every read of or action on authorizations (GET, capture, void, expire, refund, pages,
    stats), it first applies what the clock has decided: pending payments whose delay has passed
    settle, requires_action ones past expires_at expire.
POST /v1/authorizations/{id}/refunds  ``{amount?: int > 0}`` (default: what is left to refund) ->
    200 ``{"id": "psr_<hex>", "object": "refund", "authorization", "amount", "currency",
    "status": "pending" | "succeeded" | "failed" | "canceled", "failure_reason": null |
    "insufficient_funds", "created"}``, failed ones included. 404 ``not_found``; 409
    ``invalid_state`` unless captured; 400 ``amount_too_large`` if pending and succeeded refunds
    plus this one would exceed captured_amount (or nothing is left). These are stored outcomes.
    How a new refund behaves is set by /admin/refund_behavior, except that a refund of a
    bank_debit payment is always pending first and settles after
    bank_debit_refund_settle_seconds (to succeeded for modes succeed*, failed for *fail).
    A pending one settles lazily: every
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
GET /v1/settlement_reports/{date}  (``YYYY-MM-DD``, else 400 ``parameter_invalid`` param date)
    200 the settlement details report of that business date (see Settlement below), ``text/csv;
    charset=utf-8`` with ``X-Report-Sha256: <hex sha256 of the body>``. A closed date's report is
    rendered by its first fetch and stored; every fetch answers those exact bytes. A date before
    today (UTC) that is still open is closed by its first fetch. 409 ``batch_open`` for an open
    date that is today or later; 404 ``not_found`` for a date after today with no lines.
GET /v1/settlement_reports  ``{"object": "list", "data": [{"date", "batch_number", "lines"
    (rows of the batch as closed, payouts included), "sha256": <hex> | null (not fetched yet)}],
    "has_more": false}``: every closed date, by date.
GET /healthz  ``{"status": "ok"}``, no auth.

Hosted pages (HTML, no auth: the unguessable id is the capability; no JavaScript)
    GET /pages/{kind}/{id} (kind ``3ds`` | ``wallet`` | ``bank``; an HTML 404 for an unknown id,
    a wrong kind, or a payment without a page) shows an h1 ("Authenticate your payment" / "Pay
    with Wallet" / "Pay with your bank"), the merchant reference and the amount ("12.34 EUR",
    decimals per the currency's exponent). While requires_action: one form POSTing to
    ``{id}/complete`` (relative) with ``<button id="approve" name="action" value="approve">`` and
    ``<button id="fail" name="action" value="fail">`` (3ds: "Complete authentication" / "Fail
    authentication"; wallet: "Pay now" / "Cancel and return"; bank: "Authorize payment" / "Fail
    payment"). Otherwise no buttons: the status word in ``id="status"``, a sentence saying what
    happened ("This payment request has expired." for an expired one, the decline message,
    "The merchant canceled this payment." for voided...) and, with a return_url, a link
    ``id="return"`` to the return URL described below. ``Cache-Control: no-store``.
    POST /pages/{kind}/{id}/complete (form field ``action=approve|fail``, else 400 page): if the
    payment is requires_action and not past expires_at, applies the move in one transaction with
    its webhook event; otherwise changes nothing (double submit, back button, expired, voided).
    Then 303 to the return_url with ``authorization=<id>`` added to its query (an existing query
    and fragment are kept), or without a return_url to the page itself (next_action's URL).

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
    GET|POST /admin/method_timing ``{bank_redirect_settle_seconds: 2.0, bank_debit_settle_seconds:
    5.0, bank_debit_refund_settle_seconds: 5.0 (each 0..86400), action_timeout_seconds:
    ACTION_TIMEOUT_SECONDS (> 0, <= 30 days)}``; POST replaces it (fields left out take these
    defaults), for authorizations and refunds created from then on.
    POST /admin/reset clears faults, refund behaviour, method timings and webhook faults (not data,
    not the webhook URL or secret) and answers the fault config.
    GET /admin/stats -> ``{"authorizations": {"total", "requires_action", "pending", "authorized",
    "captured", "voided", "declined"}, "operations": n, "refunds": {"total", <status>: n...},
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
    refunds or authorizations: the sweeper does.
    POST /admin/settlement/close ``{date?: "YYYY-MM-DD" (default: today UTC)}`` -> 200 ``{"date",
    "batch_number", "lines"}``: closes that date's batch (any date, past or future); closing a
    closed date answers the same.
    POST /admin/settlement/discrepancies ``{date: "YYYY-MM-DD", kind, ...}`` -> 200 the
    discrepancy ``{"id": int, "date", "kind", <its fields, defaults filled in>}``, plus
    ``psp_reference`` and ``modification_reference`` for the kinds that add a line. Applied when
    the date's report is rendered (see Settlement). 400 (nothing stored) for a bad field, an
    unknown kind (param kind), a reference without such a line in the date's batch (param
    psp_reference), or ``report_already_rendered`` once the report was fetched.
    GET /admin/settlement/discrepancies?date=YYYY-MM-DD (optional) -> ``{"object": "list",
    "data": [discrepancies, in registration order], "has_more": false}``.
    GET|POST /admin/fees ``{"card": {"bps": 140, "fixed": 25}, "wallet": {"bps": 290, "fixed":
    30}, "bank_redirect": {"bps": 0, "fixed": 29}, "bank_debit": {"bps": 0, "fixed": 35}}`` (bps
    0..10000, fixed in minor units of the captured currency); POST replaces the whole schedule
    (omitted products take their defaults) for captures from then on; it is stored with the data.
    /admin/reset keeps all settlement data, discrepancies and the fee schedule.

Webhooks (Standard Webhooks)
============================
Every committed change enqueues one event in the transaction that makes it (table
``webhook_events``; stored failures, replays and rolled-back work enqueue nothing)::

    {"id": "evt_psp_<hex>", "type", "created": <unix seconds>, "data": {...}}

``authorization.requires_action``, ``.pending``, ``.succeeded`` (authorized), ``.captured`` (by a
capture, or authorize with capture), ``.failed`` (declined), ``.voided``: data is the
authorization (with ``product``) plus ``idempotency_key`` and ``operation``. For a change made by
a call, they are that call's key and ``authorize`` | ``capture`` | ``void`` | ``expire``; for a
change nobody made by key (the customer on a hosted page, a pending payment settling, the
simulator's own expiry timer) they are the key of the call that created the authorization and
``authorize``.
``refund.pending`` | ``.succeeded`` | ``.failed`` (each at creation), ``.succeeded`` | ``.failed``
again when a pending one settles, ``.canceled``: data is the refund plus ``idempotency_key``, of
the create call (also for settlements) or of the cancel call, and its payment's ``product``.
A sweeper settles due refunds and authorizations and expires unanswered ones every 0.2 s, so
their events do not wait for a read.
``chargeback.opened`` (disputes and inquiries), ``.won``, ``.lost``, ``.closed``
(warning_closed), ``.updated`` (any other change: status, evidence): data is the dispute (with
change_seq). The lifespan's sender POSTs each pending event's
JSON body, oldest first, up to 8 at a time, to the URL with ``webhook-id`` (the event id, the same
on every retry), ``webhook-timestamp``, ``webhook-signature`` (``v1,<base64>``, signed at send
time with the current secret) and ``Content-Type: application/json``, timeout 5 s. Only 2xx
delivers; anything else is retried forever after 0.2 s, doubling up to 30 s. The outbox is in
sqlite, so a restart resumes delivery. Without the lifespan (in-process ASGI clients) events are
recorded, not sent.

Settlement
==========
Every money movement writes its settlement line (two for a chargeback with a fee) in the same
transaction as the change, so committed work always has its lines and rolled-back work has none;
each movement is recorded once. Movements, amounts in minor units:

- ``Settled``: a capture (authorize with capture, a capture call, a page or a pending payment
  ending captured). Gross Credit = captured amount; Commission = ``fixed + round_half_up(amount *
  bps / 10000)`` from the fee schedule of the authorization's product (integers only); Net
  Credit = gross - commission (negative if the fee exceeds the amount).
- ``Refunded``: a refund reaching succeeded (at creation, or when a pending one settles). Gross
  Debit = Net Debit = refund amount, Commission 0.
- ``Chargeback``: a dispute opened as a chargeback, or an inquiry escalating to one. Gross Debit =
  Net Debit = dispute amount, Commission 0; with a ``Fee`` line (Net Debit = the dispute's fee;
  Gross Currency, gross amounts and Commission empty) in the same batch, unless the fee is 0.
- ``ChargebackReversed``: a dispute won. Gross Credit = Net Credit = dispute amount, Commission 0.

A line's business date is the earliest UTC date, on or after the UTC date of the movement, whose
batch is not closed: after a date is closed, later movements of that day go to the next day.
Closing a date freezes its lines and gives it the next batch number (1, 2, 3... in closing order).

The report (RFC 4180, ``\\r\\n`` line ends, UTF-8 without BOM) is this header row, then a row per
line ordered by (creation time, line id), then a ``MerchantPayout`` row per currency, in currency
order::

    Company Account,Merchant Account,Psp Reference,Merchant Reference,Payment Method,
    Creation Date,TimeZone,Type,Modification Reference,Gross Currency,Gross Debit (GC),
    Gross Credit (GC),Exchange Rate,Net Currency,Net Debit (NC),Net Credit (NC),
    Commission (NC),Batch Number

(one line in the report, wrapped here). Values:

- Company Account ``PayplaneSim``; Merchant Account ``PayplaneSimMerchant``; TimeZone ``UTC``;
  Exchange Rate ``1``; Batch Number: the batch's number, on every row.
- Psp Reference: the authorization id (``psp_...``); Merchant Reference: its merchant_reference;
  Payment Method: by card brand ``visa`` | ``mc`` | ``amex`` (``card`` for other brands), else by
  product ``paypal`` (wallet) | ``ideal`` (bank_redirect) | ``sepadirectdebit`` (bank_debit).
  All three are empty on MerchantPayout rows.
- Creation Date: ``YYYY-MM-DD HH:MM:SS``, UTC: the time of the movement (of the close, for
  MerchantPayout rows).
- Modification Reference: Settled -> the authorization id; Refunded -> the refund id (``psr_``);
  Chargeback, ChargebackReversed and Fee -> the dispute id (``psd_``); MerchantPayout ->
  ``payout_<batch number>``.
- Currencies upper case; Gross Currency = Net Currency, empty where both gross amounts are.
  Amounts are major-unit decimals with exactly the currency's ISO 4217 exponent (``10.00`` USD,
  ``1000`` JPY, ``1.000`` KWD; codes outside ISO 4217 get 2), computed from integers; an empty
  cell is not applicable.
- MerchantPayout: per currency, the net credits minus the net debits of the rows the report
  shows, as Net Debit (what the PSP pays out) or, if negative, its absolute value as Net Credit
  (what the merchant owes); gross amounts and Commission empty.

Discrepancies (POST /admin/settlement/discrepancies) are applied in registration order when the
report is rendered, and MerchantPayout rows are computed after them: only payout_mismatch makes a
payout differ from the sum of the rows shown. ``type`` is one of Settled (the default), Refunded,
Chargeback, ChargebackReversed, Fee; a discrepancy naming a line changes the first row with that
Psp Reference and type (none, if an earlier discrepancy removed it).

- ``missing_line {psp_reference, type}``: the row is left out.
- ``amount_off {psp_reference, type, delta: int != 0 = 3}``: its gross and net amounts change by
  delta minor units; Commission unchanged.
- ``currency_mismatch {psp_reference, type, currency}``: its currencies become ``currency`` (a
  different three-letter code); its amounts keep their minor units.
- ``duplicate_line {psp_reference, type}``: the row appears twice, one after the other.
- ``unknown_capture {amount: 1..99999999, currency, merchant_reference = "unknown"}``: an extra
  Settled row for a fresh ``psp_`` reference nobody knows (answered as ``psp_reference``), payment
  method visa, the card fee in force at registration, created at registration.
- ``late_chargeback {psp_reference, amount?: 1..captured amount (default)}``: an extra Chargeback
  row for an authorization settled in an EARLIER date's batch (else 400), with a fresh ``psd_``
  modification reference (answered as ``modification_reference``) for which no dispute exists
  at the simulator; no Fee row; created at registration.
- ``payout_mismatch {delta: int != 0, currency?}``: the MerchantPayout row of ``currency`` (every
  one, if omitted) is off by delta minor units from the sum of the rows.
"""

from psp_simulator.app import create_app
from psp_simulator.settings import Settings

__all__ = ["Settings", "create_app"]
