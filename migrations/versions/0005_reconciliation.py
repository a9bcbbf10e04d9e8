"""Reconciliation and remediation (issue 6).

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BREAK_TYPES = (
    "'missing_in_report','missing_internally','amount_mismatch','currency_mismatch',"
    "'status_mismatch','duplicate_in_report','unexpected_chargeback','payout_mismatch',"
    "'unresolved_payment'"
)
ITEM_STATUSES = "'open','in_review','resolved','auto_resolved','written_off'"

SCHEMA = f"""
-- A PSP's settlement report exactly as fetched. The bytes are kept out of line and
-- uncompressed: a million-line report is ~200 MB, and compressing it would cost seconds.
CREATE TABLE settlement_reports (
    id           text PRIMARY KEY,
    source       text NOT NULL,
    report_date  date NOT NULL,
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{{64}}$'),
    body         bytea NOT NULL,
    fetched_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, report_date, sha256)
);
ALTER TABLE settlement_reports ALTER COLUMN body SET STORAGE EXTERNAL;

-- The report's lines as parsed (amounts in minor units), written by COPY in the transaction
-- that stores the report. The bulk tables carry no foreign keys: a per-row check would double
-- the load time of a large report, and only that one transaction ever writes them.
CREATE TABLE settlement_lines (
    report_id               text NOT NULL,
    line_no                 integer NOT NULL,
    type                    text NOT NULL CHECK (type IN
        ('Settled', 'Refunded', 'Chargeback', 'ChargebackReversed', 'Fee', 'MerchantPayout')),
    psp_reference           text,
    merchant_reference      text,
    payment_method          text,
    created_at              timestamp NOT NULL,  -- UTC, as the report says
    modification_reference  text,
    currency                text NOT NULL,
    gross_debit             bigint,
    gross_credit            bigint,
    net_debit               bigint,
    net_credit              bigint,
    commission              bigint,
    batch_number            integer NOT NULL,
    PRIMARY KEY (report_id, line_no)
);

CREATE TABLE reconciliation_runs (
    id             text PRIMARY KEY,
    seq            bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    source         text NOT NULL,
    report_date    date NOT NULL,
    connectors     text[] NOT NULL,
    report_id      text NOT NULL REFERENCES settlement_reports(id),
    report_sha256  text NOT NULL,
    status         text NOT NULL DEFAULT 'completed' CHECK (status IN ('completed', 'superseded')),
    supersedes     text REFERENCES reconciliation_runs(id),
    superseded_by  text REFERENCES reconciliation_runs(id),
    actor          text NOT NULL,
    summary        jsonb NOT NULL,
    created        bigint NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
-- One current run per source and date: a rerun with the same report finds it and posts nothing.
CREATE UNIQUE INDEX reconciliation_runs_current ON reconciliation_runs (source, report_date)
    WHERE status = 'completed';

-- The journals a run posted (settlement per batch and currency, missing_in_report, reversals).
CREATE TABLE reconciliation_journals (
    journal_id    text PRIMARY KEY REFERENCES ledger_journals(id),
    run_id        text NOT NULL REFERENCES reconciliation_runs(id),
    purpose       text NOT NULL CHECK (purpose IN ('settlement', 'missing_in_report', 'supersede')),
    batch_number  integer,
    currency      text NOT NULL
);
CREATE INDEX reconciliation_journals_run ON reconciliation_journals (run_id);

-- Which report line settled which Payplane movement (a capture, refund, chargeback, chargeback
-- fee or reversal): one line at most per movement, so a second one is a duplicate. A million a
-- day: no index but the key (only superseding a run, a rare act, looks them up by run).
CREATE TABLE settlement_matches (
    movement_kind  text NOT NULL,
    movement_id    text NOT NULL,
    run_id         text NOT NULL,
    report_id      text NOT NULL,
    line_no        integer NOT NULL,
    PRIMARY KEY (movement_kind, movement_id)
);

-- Reports name payments by the PSP's authorization id.
CREATE INDEX payment_attempts_psp_reference ON payment_attempts (psp_reference)
    WHERE kind = 'authorize' AND psp_reference IS NOT NULL;
CREATE INDEX refunds_psp_reference ON refunds (psp_reference) WHERE psp_reference IS NOT NULL;

CREATE TABLE remediation_items (
    id                      text PRIMARY KEY,
    seq                     bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    -- NULL for the janitor's items (unresolved_payment): they come from no report.
    run_id                  text REFERENCES reconciliation_runs(id),
    source                  text NOT NULL,
    report_date             date,
    type                    text NOT NULL CHECK (type IN ({BREAK_TYPES})),
    status                  text NOT NULL DEFAULT 'open' CHECK (status IN ({ITEM_STATUSES})),
    merchant_id             text REFERENCES merchants(id),
    payment_intent_id       text REFERENCES payment_intents(id),
    movement_kind           text,
    movement_id             text,
    report_id               text,
    line_no                 integer,
    line_type               text,
    batch_number            integer,
    psp_reference           text,
    merchant_reference      text,
    modification_reference  text,
    -- Signed like the PSP receivable: positive is money the PSP owes the platform.
    amount                  bigint,
    currency                text,
    expected_amount         bigint,
    expected_currency       text,
    -- What this break holds in suspense:<source>:<currency>:<type>, [{{currency, net}}] with
    -- net = debits - credits. The open items' nets add up to each suspense account's balance.
    suspense                jsonb NOT NULL DEFAULT '[]',
    attempt_id              text REFERENCES payment_attempts(id),
    proposal                jsonb,
    assignee                text,
    explanation             text,
    created                 bigint NOT NULL,
    updated_at              timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE remediation_items ADD CONSTRAINT remediation_items_from_a_run_or_the_janitor
    CHECK (CASE WHEN type = 'unresolved_payment'
                THEN run_id IS NULL AND attempt_id IS NOT NULL
                ELSE run_id IS NOT NULL AND report_date IS NOT NULL END);
-- The janitor escalates a PSP call the PSP cannot account for once, however often it looks.
CREATE UNIQUE INDEX remediation_items_one_escalation ON remediation_items (attempt_id)
    WHERE type = 'unresolved_payment';
CREATE INDEX remediation_items_status ON remediation_items (status, seq);
CREATE INDEX remediation_items_run ON remediation_items (run_id, seq);
CREATE INDEX remediation_items_movement ON remediation_items (movement_kind, movement_id);
-- A movement missing from the reports is one item until it is found (or the run superseded).
CREATE UNIQUE INDEX remediation_items_one_missing
    ON remediation_items (movement_kind, movement_id)
    WHERE type = 'missing_in_report' AND status <> 'auto_resolved';

CREATE TABLE remediation_notes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id     text NOT NULL REFERENCES remediation_items(id),
    actor       text NOT NULL,
    text        text NOT NULL CHECK (length(text) BETWEEN 1 AND 5000),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX remediation_notes_item ON remediation_notes (item_id, id);

-- The journals that opened an item's suspense and those that resolved (or reopened) it.
CREATE TABLE remediation_item_journals (
    item_id     text NOT NULL REFERENCES remediation_items(id),
    journal_id  text NOT NULL REFERENCES ledger_journals(id),
    purpose     text NOT NULL CHECK (purpose IN ('opened', 'resolved', 'reopened')),
    PRIMARY KEY (item_id, journal_id, purpose)
);

-- A run as the API shows it: with its report's size and its items counted by status.
CREATE VIEW reconciliation_run_objects AS
SELECT r.*, (r.summary ->> 'lines')::integer AS line_count,
       (SELECT coalesce(jsonb_object_agg(status, n), '{{}}') FROM (
            SELECT status, count(*) AS n FROM remediation_items i
             WHERE i.run_id = r.id GROUP BY status) counts) AS items
  FROM reconciliation_runs r;

-- An item as the API shows it: with its notes and journals.
CREATE VIEW remediation_item_objects AS
SELECT i.*,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'actor', n.actor, 'text', n.text,
                   'created', extract(epoch FROM n.created_at)::bigint) ORDER BY n.id), '[]')
          FROM remediation_notes n WHERE n.item_id = i.id) AS notes,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'journal', j.journal_id, 'purpose', j.purpose, 'kind', lj.kind)
                   ORDER BY lj.created_at, j.journal_id), '[]')
          FROM remediation_item_journals j JOIN ledger_journals lj ON lj.id = j.journal_id
         WHERE j.item_id = i.id) AS journals
  FROM remediation_items i;
"""

APPEND_ONLY = (
    "settlement_reports",
    "settlement_lines",
    "reconciliation_journals",
    "remediation_notes",
    "remediation_item_journals",
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
    op.execute(f"GRANT SELECT, INSERT ON {', '.join(APPEND_ONLY)} TO payplane_app")
    # Matches of a superseded run are deleted: they are derived, the journals stay.
    op.execute("GRANT SELECT, INSERT, DELETE ON settlement_matches TO payplane_app")
    op.execute(
        "GRANT SELECT, INSERT, UPDATE ON reconciliation_runs, remediation_items TO payplane_app"
    )
    op.execute(
        "GRANT SELECT ON reconciliation_run_objects, remediation_item_objects TO payplane_app"
    )
    op.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO payplane_app")


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; restore from backup instead")
