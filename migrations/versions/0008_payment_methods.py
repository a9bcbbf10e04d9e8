"""Publishable keys and the core's copy of the card vault's saved cards (issue 7).

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SCHEMA = """
-- A merchant's publishable key is public by design (it sits in shop pages), so it is stored as
-- it is. The vault learns it from the core; registered_with_vault_at stays NULL until the vault
-- confirmed it, so a vault that was down catches up when the worker starts.
CREATE TABLE publishable_keys (
    key                      text PRIMARY KEY CHECK (key ~ '^pk_test_[A-Za-z0-9_-]{8,200}$'),
    merchant_id              text NOT NULL UNIQUE REFERENCES merchants(id),
    created_at               timestamptz NOT NULL DEFAULT now(),
    registered_with_vault_at timestamptz
);
CREATE INDEX publishable_keys_unregistered ON publishable_keys (created_at)
    WHERE registered_with_vault_at IS NULL;

-- Merchants made before publishable keys existed get one now (the platform account takes no
-- payments and gets none).
INSERT INTO publishable_keys (key, merchant_id)
    SELECT 'pk_test_' || replace(gen_random_uuid()::text, '-', ''), id
      FROM merchants WHERE id <> 'operator';

-- Cards saved in the vault, copied the first time the core sees one: never the number.
CREATE TABLE payment_methods (
    id               text PRIMARY KEY,
    seq              bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    merchant_id      text NOT NULL REFERENCES merchants(id),
    type             text NOT NULL CHECK (type = 'card'),
    card_brand       text NOT NULL,
    card_last4       text NOT NULL CHECK (card_last4 ~ '^[0-9]{4}$'),
    card_exp_month   integer NOT NULL CHECK (card_exp_month BETWEEN 1 AND 12),
    card_exp_year    integer NOT NULL,
    card_fingerprint text NOT NULL,
    card_funding     text NOT NULL,
    card_country     text,
    billing_name     text,
    customer         text,
    created          bigint NOT NULL,
    seen_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_methods_list ON payment_methods (merchant_id, seq DESC);
CREATE INDEX payment_methods_customer ON payment_methods (merchant_id, customer, seq DESC)
    WHERE customer IS NOT NULL;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    op.execute("GRANT SELECT, INSERT, UPDATE ON publishable_keys, payment_methods TO payplane_app")
    op.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO payplane_app")


def downgrade() -> None:
    raise NotImplementedError("restore from backup instead")
