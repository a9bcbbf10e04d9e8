"""Async plane: PSP webhook inbox, outbox wake-ups, merchant webhook endpoints and deliveries.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = """
-- PSP webhooks exactly as received (the signature was verified over raw_body), deduplicated
-- on the PSP's event id and applied later by the inbox processor.
CREATE TABLE psp_inbox (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connector        text NOT NULL,
    psp_event_id     text NOT NULL,
    event_type       text NOT NULL,
    raw_body         bytea NOT NULL,
    headers          jsonb NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'processed', 'parked')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    processed_at     timestamptz,
    last_error       text,
    UNIQUE (connector, psp_event_id)
);
CREATE INDEX psp_inbox_due ON psp_inbox (next_attempt_at) WHERE status = 'pending';

-- Wake the relay and the inbox processor at commit; they also poll, so a lost NOTIFY only
-- delays. Statement-level: one notification per transaction's batch, not per row.
CREATE FUNCTION notify_channel() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_ARGV[0], '');
    RETURN NULL;
END $$;
CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION notify_channel('payplane_outbox');
CREATE TRIGGER psp_inbox_notify AFTER INSERT ON psp_inbox
    FOR EACH STATEMENT EXECUTE FUNCTION notify_channel('payplane_inbox');

CREATE TABLE webhook_endpoints (
    id               text PRIMARY KEY,
    seq              bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    merchant_id      text NOT NULL REFERENCES merchants(id),
    url              text NOT NULL,
    enabled_events   jsonb NOT NULL,
    description      text,
    metadata         jsonb NOT NULL DEFAULT '{}',
    secret           text NOT NULL,
    status           text NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
    disabled_reason  text,
    api_version      text,
    created          bigint NOT NULL,
    deleted          boolean NOT NULL DEFAULT false,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_list ON webhook_endpoints (merchant_id, seq DESC);

CREATE TABLE webhook_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id         text NOT NULL REFERENCES events(id),
    endpoint_id      text NOT NULL REFERENCES webhook_endpoints(id),
    merchant_id      text NOT NULL REFERENCES merchants(id),
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_attempt_at  timestamptz,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);

CREATE TABLE webhook_delivery_attempts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id   bigint NOT NULL REFERENCES webhook_deliveries(id),
    attempted_at  timestamptz NOT NULL DEFAULT now(),
    succeeded     boolean NOT NULL,
    status_code   integer,
    latency_ms    integer NOT NULL,
    error         text
);
CREATE INDEX webhook_delivery_attempts_delivery ON webhook_delivery_attempts (delivery_id, id);
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    op.execute(
        "GRANT SELECT, INSERT, UPDATE ON psp_inbox, webhook_endpoints, webhook_deliveries "
        "TO payplane_app"
    )
    op.execute("GRANT SELECT, INSERT ON webhook_delivery_attempts TO payplane_app")
    op.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO payplane_app")


def downgrade() -> None:
    raise NotImplementedError("restore from backup instead")
