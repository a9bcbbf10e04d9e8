"""Payplane card vault: tokenizes card data and forwards it to PSPs; the PCI zone.

Run it with ``python -m card_vault serve`` (or ``card-vault serve``): one process serving two
ports. It never imports payplane and payplane never imports it: the core reaches it over mutual
TLS only. It runs as ONE process: CVCs live in its memory between tokenization (public port) and
the first forwarded authorization (internal port).

Set-up: ``payplane certs init`` (a local CA and the certificates vault, core-api, core-worker,
vault-admin), ``card-vault migrate --admin-url <superuser URL>`` (creates the role card_vault,
the schema vault it owns, and the tables; idempotent; the core's roles get no privilege on it),
``card-vault init-keys`` (the key file). Then ``card-vault serve``.

Configuration (environment, prefix ``CARD_VAULT_``): DATABASE_URL
(postgresql://card_vault@127.0.0.1:5433/payplane; its password, if any, is set on the role by
migrate), DB_POOL_SIZE (10), HOST (127.0.0.1), PORT (8200) public, plain HTTP unless PUBLIC_TLS
(false), INTERNAL_HOST (127.0.0.1), INTERNAL_PORT (8201) mTLS only, TLS_CERT_FILE / TLS_KEY_FILE
/ TLS_CA_FILE (.payplane/certs/vault.crt, vault.key, ca.crt: the CA that client certificates
must chain to), KEY_FILE (.payplane/vault_keys.json: ``{"current": N, "keys": {"N": base64 of 32
bytes}, "fingerprint_key": base64}``, mode 0600) or KEYS (the same JSON; cannot be rotated by
the vault), FINGERPRINT_KEY (base64; overrides the key file's), PSP_URL (http://127.0.0.1:8100),
PSP_API_KEY (psk_test_simulator), PSP_CONNECT_TIMEOUT_SECONDS (2), PSP_READ_TIMEOUT_SECONDS (10:
the core's timeout for forwarding must be longer), CVC_TTL_SECONDS (600), ALLOWED_CLIENTS (JSON
capability -> services, default {"payment_methods": ["core-api", "core-worker"],
"publishable_keys": ["core-api", "core-worker"], "forward": ["core-api", "core-worker"],
"keys": ["vault-admin"]}), REWRAP_BATCH_SIZE (500), FORWARD_RETENTION_SECONDS (2592000 = 30
days, at least one day), HOUSEKEEPING_INTERVAL_SECONDS (3600), LOG_LEVEL (INFO). ``migrate``
also reads CARD_VAULT_ADMIN_DATABASE_URL for --admin-url.

CLI: serve; migrate --admin-url; init-keys [--force]; rotate-key [--resume] (adds a KEK version,
makes it current, re-wraps every data key in batches, each its own short transaction, while the
running vault keeps serving: it follows the key file); retire-key VERSION (refused while a data
key is still wrapped by it).

Errors everywhere: Stripe's error object ``{"error": {"type", "code", "message", "param"?,
"decline_code"?}}``; card_error is HTTP 402, invalid_request_error 4xx, api_error 5xx. Bodies are
limited to 16 KiB (413 request_too_large); an unaccepted Content-Type is 415
unsupported_media_type; neither stores anything. Card data never appears in a response, an error
message or a log line (logs go through a redacting processor).

PaymentMethod object (every answer that describes a card)::

    {"id": "pm_<24 base62>", "object": "payment_method", "type": "card",
     "billing_details": {"address": null, "email": null, "name", "phone": null},
     "card": {"brand": "visa" | "mastercard" | "amex" | "discover", "last4", "exp_month",
              "exp_year", "fingerprint": <16 chars, HMAC-SHA256 of the PAN; same card, same
              fingerprint within a deployment>, "funding": "credit", "country": null},
     "created": <unix seconds>, "customer": null, "livemode": false, "metadata": {}}

Public port (no client certificate)
===================================
POST /v1/payment_methods  ``Authorization: Bearer pk_test_...`` (or Basic ``pk_...:``);
    form-encoded (``type=card&card[number]=...&card[exp_month]&card[exp_year]&card[cvc]&
    billing_details[name]``) or the same as a JSON object. 200: the PaymentMethod. No key: 401
    api_key_missing; a key not registered (or revoked): 401 api_key_invalid; a secret key: 401
    secret_key_not_allowed. Checks, the first failure reported (param in brackets):
    card[number] 13-19 digits (spaces and dashes ignored) else card_error invalid_number; Luhn
    else incorrect_number; brand Visa/Mastercard/Amex/Discover else card_declined with
    decline_code card_not_supported; the brand's lengths else invalid_number;
    card[exp_month] 1-12 else invalid_expiry_month; card[exp_year] 2 or 4 digits, not in the
    past (a card is valid through its expiry month) and at most 50 years ahead, else
    invalid_expiry_year; card[cvc] optional, 3 digits (4 for amex) else invalid_cvc;
    billing_details[name] optional, <= 200 chars, no card number in it. Missing fields:
    invalid_request_error parameter_missing; unknown fields: parameter_unknown; type other than
    card: parameter_invalid. CORS is open (no cookies are involved).
GET /form?key=pk_...&redirect_url=<optional http(s) URL>  the hosted card form (HTML, no
    external resources; fields #card-number, #exp-month, #exp-year, #cvc, #name, button
    #submit). Unknown key: 401 page; bad redirect_url: 400 page.
POST /form  (form-encoded: key, redirect_url?, card_number, exp_month, exp_year, cvc, name)
    success: 303 to redirect_url with ``payment_method=pm_...`` added to its query, or a page
    with #payment-method (the id), #card-summary ("Visa ending in 4242"); a refusal: the form
    again (400) with the message in #error, the field marked aria-invalid, the number and CVC
    not written back.
GET /healthz  ``{"status": "ok"}``.

Internal port (mTLS only)
=========================
The TLS handshake refuses a client without a certificate, with one of another CA, or an
expired one. The calling service is then read from the certificate: its URI SAN
``spiffe://payplane/<service>`` (or its CN when it has no URI SAN) must be in the allow list of
the route's capability (ALLOWED_CLIENTS), else 403 service_not_allowed naming the service and
who is allowed. Bodies are JSON.

PUT /internal/publishable_keys/{pk}  ``{"merchant_id"}`` [publishable_keys] registers the key
    (stored as its SHA-256; idempotent) -> ``{"object": "publishable_key", "merchant_id",
    "registered": true}``; 409 publishable_key_taken if registered for another merchant;
    400 parameter_invalid (param key) for a malformed key.
DELETE /internal/publishable_keys/{pk}?merchant_id=  [publishable_keys] revokes it ->
    ``{..., "deleted": true | false}`` (false: it was not registered to that merchant;
    idempotent, retry freely).
GET /internal/payment_methods/{pm}?merchant_id=  [payment_methods] the PaymentMethod; another
    merchant's or an unknown pm: 404 resource_missing; a malformed id: 400 (param id).
GET /internal/payment_methods?merchant_id=&limit=10 (1..100)&starting_after=pm_...
    [payment_methods] ``{"object": "list", "data": [newest first], "has_more", "url"}``.
POST /internal/forward/authorizations  [forward], header Idempotency-Key (1-255 printable
    chars; missing: 400 idempotency_key_missing), body ``{"merchant_id", "payment_method",
    "psp_request": {"amount": 1..99999999, "currency": "usd", "merchant_reference",
    "capture": false, "return_url"?}}`` (nothing else). The vault decrypts the PAN and POSTs
    ``psp_request + {"card": {"number", "exp_month", "exp_year", "cvc"?}}`` to
    {PSP_URL}/v1/authorizations with the same Idempotency-Key and the PSP API key, then answers
    the PSP's status code and JSON body as they are (header Idempotent-Replayed passed on),
    except that any occurrence of the card number becomes "[redacted]" (the simulator's
    ``card_<brand>_<last4>`` stays). The CVC goes with the first authorization forwarded for
    the card (and with retries of that same request, so their bodies are identical), never with
    a later one, and is forgotten after CVC_TTL_SECONDS or a vault restart. Idempotency: the vault
    keeps (merchant, key) -> hash of (payment_method, psp_request) for FORWARD_RETENTION_SECONDS
    (purged at start and every HOUSEKEEPING_INTERVAL_SECONDS); the same key with another body is 409
    type idempotency_error, code idempotency_key_reused, nothing sent; the same key and body is
    forwarded again (the PSP deduplicates). A malformed payment_method: 400 (param payment_method);
    an unknown one or another merchant's: 404 resource_missing (param payment_method); neither
    reaches the PSP. PSP failures: 503 api_error psp_unreachable (no connection: nothing was sent, a
    retry is safe); 504 api_error psp_timeout (sent, no answer: the outcome is unknown, look it up
    at the PSP by Idempotency-Key); 502 psp_invalid_response (an answer that is not JSON: unknown
    too). Any other status is the PSP's own.
GET /internal/keys  [keys] ``{"current": N, "versions": {"N": data keys wrapped by it}}``.
POST /internal/keys/rotate  [keys] what ``card-vault rotate-key`` does -> the status plus
    ``"rewrapped"``; 409 keys_not_rotatable when the keys come from CARD_VAULT_KEYS.
DELETE /internal/keys/{version}  [keys] retire-key -> the status; 409 key_in_use or
    key_not_retirable (the current version).
GET /healthz  ``{"status": "ok"}`` (any certificate of the CA).
"""
