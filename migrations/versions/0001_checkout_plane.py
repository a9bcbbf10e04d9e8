"""Checkout plane: merchants, keys, payment intents, attempts, idempotency, ledger, outbox, audit.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATUSES = (
    "'requires_payment_method','requires_confirmation','requires_action','processing',"
    "'requires_capture','canceled','succeeded'"
)

SCHEMA = f"""
CREATE TABLE merchants (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    merchant_id  text NOT NULL REFERENCES merchants(id),
    kind         text NOT NULL CHECK (kind IN ('secret')),
    secret_hash  bytea NOT NULL UNIQUE,
    last4        text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);

CREATE TABLE payment_intents (
    id                   text PRIMARY KEY,
    seq                  bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    merchant_id          text NOT NULL REFERENCES merchants(id),
    amount               bigint NOT NULL CHECK (amount > 0 AND amount <= 99999999),
    currency             text NOT NULL CHECK (currency ~ '^[a-z]{{3}}$'),
    status               text NOT NULL CHECK (status IN ({STATUSES})),
    capture_method       text NOT NULL CHECK (capture_method IN ('automatic', 'manual')),
    payment_method       text,
    customer             text,
    description          text,
    metadata             jsonb NOT NULL DEFAULT '{{}}',
    last_payment_error   jsonb,
    amount_capturable    bigint NOT NULL DEFAULT 0 CHECK (amount_capturable >= 0),
    amount_received      bigint NOT NULL DEFAULT 0 CHECK (amount_received >= 0),
    latest_charge        text,
    connector            text NOT NULL,
    created              bigint NOT NULL,
    canceled_at          bigint,
    cancellation_reason  text,
    livemode             boolean NOT NULL DEFAULT false,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CHECK (amount_received <= amount AND amount_capturable <= amount)
);
CREATE INDEX payment_intents_list ON payment_intents (merchant_id, seq DESC);
CREATE INDEX payment_intents_customer ON payment_intents (merchant_id, customer, seq DESC)
    WHERE customer IS NOT NULL;

-- One row per PSP call, committed before the call: the recovery point of the orchestrator.
CREATE TABLE payment_attempts (
    id                   text PRIMARY KEY,
    payment_intent_id    text NOT NULL REFERENCES payment_intents(id),
    merchant_id          text NOT NULL REFERENCES merchants(id),
    kind                 text NOT NULL CHECK (kind IN ('authorize', 'capture', 'void')),
    status               text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'unknown')),
    connector            text NOT NULL,
    psp_idempotency_key  text NOT NULL UNIQUE,
    psp_reference        text,
    charge_id            text UNIQUE,
    amount               bigint NOT NULL CHECK (amount > 0),
    currency             text NOT NULL,
    payment_method       text,
    capture              boolean NOT NULL DEFAULT false,
    reason               text,
    error                jsonb,
    checks               integer NOT NULL DEFAULT 0,
    next_check_at        timestamptz NOT NULL DEFAULT now(),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_attempts_intent ON payment_attempts (payment_intent_id, created_at);
-- Never two PSP calls in flight for one intent.
CREATE UNIQUE INDEX payment_attempts_one_open ON payment_attempts (payment_intent_id)
    WHERE status IN ('pending', 'unknown');
CREATE INDEX payment_attempts_to_resolve ON payment_attempts (next_check_at)
    WHERE status IN ('pending', 'unknown');

CREATE TABLE idempotency_keys (
    merchant_id      text NOT NULL REFERENCES merchants(id),
    key              text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    method           text NOT NULL,
    path             text NOT NULL,
    fingerprint      text NOT NULL,
    recovery_point   text NOT NULL DEFAULT 'started',
    attempt_id       text REFERENCES payment_attempts(id),
    locked_until     timestamptz,
    response_status  integer,
    response_body    jsonb,
    request_id       text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);

-- Ledger: double-entry, append-only, balanced per journal and currency inside PostgreSQL.
CREATE TABLE ledger_accounts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code         text NOT NULL UNIQUE,
    currency     text NOT NULL,
    merchant_id  text REFERENCES merchants(id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, currency)
);

CREATE TABLE ledger_journals (
    id                 text PRIMARY KEY,
    kind               text NOT NULL,
    payment_intent_id  text REFERENCES payment_intents(id),
    hold_id            text UNIQUE,
    -- A hold is released by exactly one journal: capture, void or expiry.
    resolves_hold_id   text UNIQUE REFERENCES ledger_journals(hold_id),
    created_at         timestamptz NOT NULL DEFAULT now(),
    effective_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_journals_intent ON ledger_journals (payment_intent_id);

CREATE TABLE ledger_entries (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    journal_id         text NOT NULL REFERENCES ledger_journals(id),
    payment_intent_id  text REFERENCES payment_intents(id),
    account_id         bigint NOT NULL,
    direction          text NOT NULL CHECK (direction IN ('debit', 'credit')),
    amount             bigint NOT NULL CHECK (amount > 0),
    currency           text NOT NULL,
    entry_type         text NOT NULL CHECK (entry_type IN
        ('auth', 'capture', 'refund', 'chargeback', 'fee', 'settlement', 'adjustment')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    effective_at       timestamptz NOT NULL DEFAULT now(),
    -- An entry's currency is its account's currency.
    FOREIGN KEY (account_id, currency) REFERENCES ledger_accounts (id, currency)
);
CREATE INDEX ledger_entries_journal ON ledger_entries (journal_id);
CREATE INDEX ledger_entries_account ON ledger_entries (account_id, id);
CREATE INDEX ledger_entries_intent ON ledger_entries (payment_intent_id);

CREATE FUNCTION ledger_journal_must_balance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    unbalanced record;
BEGIN
    SELECT currency, sum(CASE direction WHEN 'debit' THEN amount ELSE -amount END) AS net
      INTO unbalanced
      FROM ledger_entries
     WHERE journal_id = NEW.journal_id
     GROUP BY currency
    HAVING sum(CASE direction WHEN 'debit' THEN amount ELSE -amount END) <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger journal % does not balance in %: debits - credits = %',
            NEW.journal_id, unbalanced.currency, unbalanced.net
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

-- Deferred to commit so a journal's entries can be inserted one by one.
CREATE CONSTRAINT TRIGGER ledger_entries_balanced
    AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_journal_must_balance();

CREATE FUNCTION ledger_journal_must_have_entries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- An empty journal would balance trivially, and one naming a hold would use up its only
    -- resolution without releasing any money.
    IF NOT EXISTS (SELECT 1 FROM ledger_entries WHERE journal_id = NEW.id) THEN
        RAISE EXCEPTION 'ledger journal % has no entries', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_journals_not_empty
    AFTER INSERT ON ledger_journals
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_journal_must_have_entries();

-- Outbox: Stripe events written in the same transaction as the state change they describe.
CREATE TABLE events (
    id                text PRIMARY KEY,
    seq               bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    merchant_id       text NOT NULL REFERENCES merchants(id),
    type              text NOT NULL,
    object_id         text NOT NULL,
    payment_intent_id text,
    data              jsonb NOT NULL,
    request_id        text,
    idempotency_key   text,
    created           bigint NOT NULL,
    published_at      timestamptz
);
CREATE INDEX events_list ON events (merchant_id, seq DESC);
CREATE INDEX events_payment ON events (payment_intent_id, seq);
CREATE INDEX events_unpublished ON events (seq) WHERE published_at IS NULL;

CREATE TABLE audit_log (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at               timestamptz NOT NULL DEFAULT now(),
    merchant_id      text,
    actor            text NOT NULL,
    request_id       text,
    idempotency_key  text,
    action           text NOT NULL,
    object_type      text,
    object_id        text,
    before_status    text,
    after_status     text,
    detail           jsonb NOT NULL DEFAULT '{{}}'
);
CREATE INDEX audit_log_object ON audit_log (object_id, id);

CREATE FUNCTION refuse_append_only_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused (post a correcting entry instead)',
        TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
"""

APPEND_ONLY = ("ledger_journals", "ledger_entries", "audit_log")
MUTABLE = (
    "merchants",
    "api_keys",
    "payment_intents",
    "payment_attempts",
    "idempotency_keys",
    "ledger_accounts",
    "events",
)


def upgrade() -> None:
    op.execute(SCHEMA)
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change()"
        )
    # The processes run as payplane_app (SET ROLE at connect): it may insert and read the
    # append-only tables but holds no UPDATE, DELETE or TRUNCATE grant on them.
    op.execute(
        """
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'payplane_app') THEN
                CREATE ROLE payplane_app NOLOGIN;
            END IF;
        END $$;
        """
    )
    op.execute("GRANT payplane_app TO CURRENT_USER")
    op.execute("GRANT USAGE ON SCHEMA public TO payplane_app")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(MUTABLE)} TO payplane_app")
    op.execute(f"GRANT SELECT, INSERT ON {', '.join(APPEND_ONLY)} TO payplane_app")
    op.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO payplane_app")


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; restore from backup instead")
