"""Restricted keys, operators, approvals and payment methods (issue 7).

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ROLES = "'support','finance','operations','admin'"

SCHEMA = f"""
-- The platform's own account: its operators and restricted keys (and PAYPLANE_OPERATOR_TOKEN)
-- hold the permissions that span merchants, reconciliation and remediation.
INSERT INTO merchants (id, name) VALUES ('operator', 'Platform operations')
    ON CONFLICT (id) DO NOTHING;

-- Restricted keys live next to secret keys (one lookup by hash authenticates either), with
-- their permissions as resource -> level.
ALTER TABLE api_keys DROP CONSTRAINT api_keys_kind_check;
ALTER TABLE api_keys
    ADD CONSTRAINT api_keys_kind_check CHECK (kind IN ('secret', 'restricted')),
    ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    ADD COLUMN name text,
    ADD COLUMN permissions jsonb,
    ADD COLUMN created bigint,
    ADD COLUMN created_by text,
    ADD CONSTRAINT api_keys_restricted_have_permissions
        CHECK ((kind = 'restricted') = (permissions IS NOT NULL AND name IS NOT NULL));
UPDATE api_keys SET created = extract(epoch FROM created_at)::bigint;
ALTER TABLE api_keys
    ALTER COLUMN created SET DEFAULT extract(epoch FROM now())::bigint,
    ALTER COLUMN created SET NOT NULL;
CREATE INDEX api_keys_list ON api_keys (merchant_id, seq DESC);

CREATE VIEW active_restricted_keys AS
    SELECT * FROM api_keys WHERE kind = 'restricted' AND revoked_at IS NULL;

-- A merchant's staff. The bearer token is stored as its SHA-256 like the API keys.
CREATE TABLE operators (
    id              text PRIMARY KEY,
    seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    merchant_id     text NOT NULL REFERENCES merchants(id),
    email           text NOT NULL CHECK (email = lower(email)),
    roles           text[] NOT NULL
                    CHECK (cardinality(roles) > 0 AND roles <@ ARRAY[{ROLES}]::text[]),
    token_hash      bytea NOT NULL UNIQUE,
    last4           text NOT NULL,
    created         bigint NOT NULL,
    created_by      text NOT NULL,
    deactivated_at  timestamptz
);
CREATE UNIQUE INDEX operators_email ON operators (merchant_id, email)
    WHERE deactivated_at IS NULL;
CREATE INDEX operators_list ON operators (merchant_id, seq DESC);

CREATE VIEW active_operators AS SELECT * FROM operators WHERE deactivated_at IS NULL;

-- Maker-checker: an action held until a second person approves it, then run once.
CREATE TABLE approval_requests (
    id            text PRIMARY KEY,
    seq           bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    merchant_id   text NOT NULL REFERENCES merchants(id),
    action        text NOT NULL,
    params        jsonb NOT NULL,
    status        text NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    requested_by  text NOT NULL,
    request_id    text NOT NULL,
    created       bigint NOT NULL,
    decided_by    text,
    decided_at    bigint,
    reason        text,
    result        jsonb,
    error         jsonb,
    executed_at   bigint,
    CHECK ((status = 'pending') = (decided_by IS NULL)),
    -- Four eyes in the database too: nobody approves their own request.
    CHECK (status <> 'approved' OR decided_by <> requested_by),
    CHECK (executed_at IS NULL OR status = 'approved')
);
CREATE INDEX approval_requests_list ON approval_requests (merchant_id, seq DESC);
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    op.execute("GRANT SELECT, INSERT, UPDATE ON operators, approval_requests TO payplane_app")
    op.execute("GRANT SELECT ON active_restricted_keys, active_operators TO payplane_app")
    op.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO payplane_app")


def downgrade() -> None:
    raise NotImplementedError("restore from backup instead")
