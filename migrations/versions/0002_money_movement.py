"""Money movement: refunds, disputes, authorization expiry, cheap account balances.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DISPUTE_STATUSES = (
    "'warning_needs_response','warning_under_review','warning_closed','needs_response',"
    "'under_review','won','lost'"
)

SCHEMA = f"""
ALTER TABLE payment_intents
    ADD COLUMN amount_refunded bigint NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0),
    ADD COLUMN capture_before bigint,
    ADD CONSTRAINT payment_intents_refunds_within_received CHECK (amount_refunded <= amount_received);
CREATE INDEX payment_intents_expiring ON payment_intents (capture_before)
    WHERE status = 'requires_capture';

CREATE TABLE refunds (
    id                 text PRIMARY KEY,
    seq                bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    merchant_id        text NOT NULL REFERENCES merchants(id),
    payment_intent_id  text NOT NULL REFERENCES payment_intents(id),
    charge             text,
    amount             bigint NOT NULL CHECK (amount > 0 AND amount <= 99999999),
    currency           text NOT NULL,
    reason             text CHECK (reason IN ('duplicate', 'fraudulent', 'requested_by_customer', 'expired_uncaptured_charge')),
    status             text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
    failure_reason     text,
    metadata           jsonb NOT NULL DEFAULT '{{}}',
    connector          text NOT NULL,
    psp_reference      text,
    -- The refund's money is booked once the PSP accepts it, and reversed if it then fails.
    booked             boolean NOT NULL DEFAULT false,
    created            bigint NOT NULL,
    checks             integer NOT NULL DEFAULT 0,
    next_check_at      timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_list ON refunds (merchant_id, seq DESC);
CREATE INDEX refunds_intent ON refunds (payment_intent_id, seq);
CREATE INDEX refunds_to_check ON refunds (next_check_at) WHERE status = 'pending';

ALTER TABLE payment_attempts
    DROP CONSTRAINT payment_attempts_kind_check,
    ADD CONSTRAINT payment_attempts_kind_check
        CHECK (kind IN ('authorize', 'capture', 'void', 'refund', 'refund_cancel')),
    ADD COLUMN refund_id text REFERENCES refunds(id);
-- Refunds run side by side (the refundable amount is reserved under the intent's lock);
-- every other PSP call is one at a time per intent.
DROP INDEX payment_attempts_one_open;
CREATE UNIQUE INDEX payment_attempts_one_open ON payment_attempts (payment_intent_id)
    WHERE status IN ('pending', 'unknown') AND refund_id IS NULL;
CREATE UNIQUE INDEX payment_attempts_one_open_per_refund ON payment_attempts (refund_id)
    WHERE status IN ('pending', 'unknown') AND refund_id IS NOT NULL;

CREATE TABLE disputes (
    id                 text PRIMARY KEY,
    seq                bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    merchant_id        text NOT NULL REFERENCES merchants(id),
    payment_intent_id  text NOT NULL REFERENCES payment_intents(id),
    charge             text,
    amount             bigint NOT NULL CHECK (amount > 0),
    currency           text NOT NULL,
    fee                bigint NOT NULL DEFAULT 0 CHECK (fee >= 0),
    reason             text NOT NULL,
    status             text NOT NULL CHECK (status IN ({DISPUTE_STATUSES})),
    evidence           jsonb NOT NULL DEFAULT '{{}}',
    submission_count   integer NOT NULL DEFAULT 0,
    evidence_due_by    bigint,
    metadata           jsonb NOT NULL DEFAULT '{{}}',
    connector          text NOT NULL,
    psp_dispute_id     text NOT NULL,
    -- The PSP's change counter: an older change arriving late never overwrites a newer one.
    psp_change_seq     bigint NOT NULL,
    -- Whether the disputed amount is currently withdrawn from the merchant in the ledger.
    funds_withdrawn    boolean NOT NULL DEFAULT false,
    created            bigint NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (connector, psp_dispute_id)
);
CREATE INDEX disputes_list ON disputes (merchant_id, seq DESC);
CREATE INDEX disputes_intent ON disputes (payment_intent_id);

-- Where each poller stopped reading a PSP feed (e.g. disputes changed since N).
CREATE TABLE psp_cursors (
    connector  text NOT NULL,
    feed       text NOT NULL,
    position   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (connector, feed)
);

-- Balances without scanning entries: every insert adds its sums to one of a few shards per
-- account (chosen by backend), so concurrent payments rarely wait on the same row; a balance
-- is the sum of at most SHARDS rows.
CREATE TABLE ledger_account_balances (
    account_id  bigint NOT NULL REFERENCES ledger_accounts(id),
    shard       smallint NOT NULL,
    debits      bigint NOT NULL DEFAULT 0,
    credits     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, shard)
);

INSERT INTO ledger_account_balances (account_id, shard, debits, credits)
SELECT account_id, 0,
       coalesce(sum(amount) FILTER (WHERE direction = 'debit'), 0),
       coalesce(sum(amount) FILTER (WHERE direction = 'credit'), 0)
  FROM ledger_entries GROUP BY account_id;

-- SECURITY DEFINER: the app role may not write balances itself, only through new entries.
CREATE FUNCTION ledger_balances_add() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public AS $$
BEGIN
    INSERT INTO ledger_account_balances AS b (account_id, shard, debits, credits)
    SELECT account_id, (pg_backend_pid() % 8)::smallint,
           coalesce(sum(amount) FILTER (WHERE direction = 'debit'), 0),
           coalesce(sum(amount) FILTER (WHERE direction = 'credit'), 0)
      FROM new_entries GROUP BY account_id ORDER BY account_id
    ON CONFLICT (account_id, shard) DO UPDATE
       SET debits = b.debits + EXCLUDED.debits, credits = b.credits + EXCLUDED.credits;
    RETURN NULL;
END $$;

CREATE TRIGGER ledger_entries_balances
    AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_balances_add();
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    op.execute("GRANT SELECT, INSERT, UPDATE ON refunds, disputes, psp_cursors TO payplane_app")
    op.execute("GRANT SELECT ON ledger_account_balances TO payplane_app")
    op.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO payplane_app")


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; restore from backup instead")
