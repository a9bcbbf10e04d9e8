"""payplane_app becomes a LOGIN role: the api and worker log in as it instead of as the schema
owner (issue 7 follow-up: a process that can RESET ROLE must not get the owner back).

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Roles are the server's, not the database's: a DBA may have made payplane_app (or may not let
# the owner alter it). Then this says so and leaves it to them; the processes' first connection
# fails with PostgreSQL's "not permitted to log in" until they do, or until
# PAYPLANE_APP_DATABASE_URL names a login role that is a member of payplane_app.
SCHEMA = """
DO $$ BEGIN
    ALTER ROLE payplane_app LOGIN;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'could not ALTER ROLE payplane_app LOGIN (%): a superuser must, or set '
                 'PAYPLANE_APP_DATABASE_URL to a login role that is a member of payplane_app',
                 SQLERRM;
END $$;
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute("ALTER ROLE payplane_app NOLOGIN")
