-- Cards: the PAN only as AES-256-GCM ciphertext under a per-record data key, which is stored
-- wrapped by key-encryption key `kek_version`. No CVC column: CVCs are never stored.
CREATE TABLE vault.cards (
    id text PRIMARY KEY CHECK (id ~ '^pm_[A-Za-z0-9]{24}$'),
    merchant_id text NOT NULL,
    fingerprint text NOT NULL,
    brand text NOT NULL CHECK (brand IN ('visa', 'mastercard', 'amex', 'discover')),
    last4 text NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
    exp_month smallint NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
    exp_year smallint NOT NULL CHECK (exp_year BETWEEN 2000 AND 2200),
    holder_name text CHECK (length(holder_name) <= 200),
    nonce bytea NOT NULL CHECK (octet_length(nonce) = 12),
    ciphertext bytea NOT NULL,
    wrapped_dek bytea NOT NULL CHECK (octet_length(wrapped_dek) = 40),
    kek_version integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cards_by_merchant ON vault.cards (merchant_id, created_at DESC, id DESC);
-- A rotation looks for the rows still wrapped by another key version.
CREATE INDEX cards_by_kek_version ON vault.cards (kek_version, id);

-- Which merchant a publishable key belongs to, by the key's SHA-256: the key itself is not kept.
CREATE TABLE vault.publishable_keys (
    key_hash bytea PRIMARY KEY CHECK (octet_length(key_hash) = 32),
    merchant_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Forwarding requests seen, by Idempotency-Key: only a hash of what was asked, so that the same
-- key with another body is refused.
CREATE TABLE vault.forward_requests (
    merchant_id text NOT NULL,
    idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    body_hash bytea NOT NULL CHECK (octet_length(body_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, idempotency_key)
);
