"""No NOTIFY on webhook endpoint changes: the relay reads the endpoints in its claim, nothing caches them

Revision ID: 0100
Revises: 0090
Create Date: 2026-12-03 17:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0100"
down_revision: str | None = "0090"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS webhook_endpoints_notify_truncate ON webhook_endpoints")
    op.execute("DROP TRIGGER IF EXISTS webhook_endpoints_notify ON webhook_endpoints")
    op.execute("DROP FUNCTION IF EXISTS webhook_endpoints_notify()")


def downgrade() -> None:
    op.execute(
        "CREATE FUNCTION webhook_endpoints_notify() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN PERFORM pg_notify('billing_webhook_endpoints', ''); RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER webhook_endpoints_notify AFTER INSERT OR UPDATE OR DELETE ON webhook_endpoints"
        " FOR EACH ROW EXECUTE FUNCTION webhook_endpoints_notify()"
    )
    op.execute(
        "CREATE TRIGGER webhook_endpoints_notify_truncate AFTER TRUNCATE ON webhook_endpoints"
        " FOR EACH STATEMENT EXECUTE FUNCTION webhook_endpoints_notify()"
    )
