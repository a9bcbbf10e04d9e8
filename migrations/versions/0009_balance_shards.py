"""More balance shards: concurrent payments stop queueing on the same balance row (issue 7
follow-up, measured by `python -m bench checkout`).

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# 8 shards made about 3 of 32 concurrent checkouts wait on a shard another open transaction had
# updated (pg_stat_activity: Lock transactionid on INSERT INTO ledger_entries): an api process has
# 20 pooled backends, so 8 shards put ~5 backends of two processes on each row. With 64, a
# balance is still the sum of at most 64 small rows and collisions are rare.
SCHEMA = """
CREATE OR REPLACE FUNCTION ledger_balances_add() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public AS $$
BEGIN
    INSERT INTO ledger_account_balances AS b (account_id, shard, debits, credits)
    SELECT account_id, (pg_backend_pid() % 64)::smallint,
           coalesce(sum(amount) FILTER (WHERE direction = 'debit'), 0),
           coalesce(sum(amount) FILTER (WHERE direction = 'credit'), 0)
      FROM new_entries GROUP BY account_id ORDER BY account_id
    ON CONFLICT (account_id, shard) DO UPDATE
       SET debits = b.debits + EXCLUDED.debits, credits = b.credits + EXCLUDED.credits;
    RETURN NULL;
END $$;
"""

PREVIOUS = SCHEMA.replace("% 64", "% 8")


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute(PREVIOUS)
