"""NOTIFY at commit when webhook endpoints, tenants or exchange rates change, for the caches of them

Revision ID: 0090
Revises: 0080
Create Date: 2026-12-03 13:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0090"
down_revision: str | None = "0080"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOTICES = {
    "webhook_endpoints": "billing_webhook_endpoints",
    "tenants": "billing_reporting",
    "exchange_rates": "billing_reporting",
}
"""Table: the channel a statement changing it notifies (delivered at commit, once per channel and transaction)."""


def upgrade() -> None:
    for table, channel in NOTICES.items():
        op.execute(
            f"CREATE FUNCTION {table}_notify() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN PERFORM pg_notify('{channel}', ''); RETURN NULL; END $$"
        )
        # Per row, so that a statement changing nothing notifies nobody (the webhooks worker's updates of an
        # endpoint's failing_since mostly match no row); PostgreSQL folds a transaction's notices into one.
        op.execute(
            f"CREATE TRIGGER {table}_notify AFTER INSERT OR UPDATE OR DELETE ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION {table}_notify()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_notify_truncate AFTER TRUNCATE ON {table}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {table}_notify()"
        )


def downgrade() -> None:
    for table in NOTICES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify_truncate ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {table}_notify()")
