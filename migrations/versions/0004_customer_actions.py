"""Customer actions: 3-D Secure and alternative payment methods (issue 5).

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = """
ALTER TABLE payment_intents
    ADD COLUMN payment_method_types text[] NOT NULL DEFAULT '{card}'
        CHECK (cardinality(payment_method_types) BETWEEN 1 AND 20),
    ADD COLUMN client_secret text,
    ADD COLUMN return_url text CHECK (length(return_url) <= 2048),
    ADD COLUMN next_action jsonb,
    -- The connector of the latest authorization: unknown until the first confirmation.
    ALTER COLUMN connector DROP NOT NULL,
    ADD CONSTRAINT payment_intents_next_action_only_when_waiting
        CHECK (next_action IS NULL OR status = 'requires_action');

-- requires_action: the customer is on the PSP's page (redirect_url); awaiting: accepted, the
-- PSP reports the result later. Both are followed up by status checks, not by lookups.
ALTER TABLE payment_attempts
    DROP CONSTRAINT payment_attempts_status_check,
    ADD CONSTRAINT payment_attempts_status_check CHECK (status IN (
        'pending', 'succeeded', 'failed', 'unknown', 'requires_action', 'awaiting')),
    ADD COLUMN redirect_url text,
    ADD COLUMN return_url text;

-- Still one PSP call in flight per intent, except that a cancel (void) may be sent while the
-- customer is on the PSP's page: that is the only way to stop an authorization they may approve.
DROP INDEX payment_attempts_one_open;
CREATE UNIQUE INDEX payment_attempts_one_open ON payment_attempts (payment_intent_id)
    WHERE status IN ('pending', 'unknown', 'awaiting') AND refund_id IS NULL;
CREATE UNIQUE INDEX payment_attempts_one_waiting ON payment_attempts (payment_intent_id)
    WHERE status = 'requires_action';
CREATE INDEX payment_attempts_to_follow ON payment_attempts (next_check_at)
    WHERE status IN ('requires_action', 'awaiting');
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    raise NotImplementedError("restore from backup instead")
