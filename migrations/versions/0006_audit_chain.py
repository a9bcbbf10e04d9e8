"""Tamper-evident audit chain (issue 7): audit_log rows get a reason and the id of the
transaction that wrote them; audit_seals hash-chains them, sealed off the hot path.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SCHEMA = """
ALTER TABLE audit_log ADD COLUMN reason text;

-- The writing transaction's id orders the chain: a row is sealed once every transaction with a
-- lower id has ended (adapters/db/audit_chain.py). The default fills the rows already there;
-- the trigger stamps new ones, so a writer cannot date a row into the sealed past.
ALTER TABLE audit_log ADD COLUMN xact_id xid8 NOT NULL DEFAULT pg_current_xact_id();
ALTER TABLE audit_log ALTER COLUMN xact_id DROP DEFAULT;
CREATE INDEX audit_log_chain_order ON audit_log (xact_id, id);

CREATE FUNCTION audit_log_stamp_xact() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.xact_id := pg_current_xact_id();
    RETURN NEW;
END $$;

CREATE TRIGGER audit_log_stamp_xact BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_stamp_xact();

-- One seal per audit row, in chain order: hash = sha256(prev_hash || the row's canonical form).
-- No foreign key to audit_log: the seal of a deleted row must survive to say it was there.
CREATE TABLE audit_seals (
    seq        bigint PRIMARY KEY CHECK (seq > 0),
    audit_id   bigint NOT NULL UNIQUE,
    prev_hash  bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash       bytea NOT NULL CHECK (length(hash) = 32),
    sealed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER audit_seals_append_only BEFORE UPDATE OR DELETE ON audit_seals
    FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change();
CREATE TRIGGER audit_seals_no_truncate BEFORE TRUNCATE ON audit_seals
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();

GRANT SELECT, INSERT ON audit_seals TO payplane_app;
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only; restore from backup instead")
