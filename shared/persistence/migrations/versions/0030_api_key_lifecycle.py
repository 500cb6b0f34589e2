"""API keys get a name, an expiry and a last use; the webhook log is purged by age

Revision ID: 0030
Revises: 0012
Create Date: 2026-12-03 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("name", sa.Text()))
    op.add_column("api_keys", sa.Column("expires_at", sa.DateTime(timezone=True)))
    op.add_column("api_keys", sa.Column("last_used_at", sa.DateTime(timezone=True)))
    op.create_index("ix_api_keys_tenant", "api_keys", ["tenant_id", "created_at"])
    # The scheduler deletes webhook_log rows older than BILLING_WEBHOOK_LOG_DAYS: oldest first, by this index.
    op.create_index("ix_webhook_log_received", "webhook_log", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_log_received", table_name="webhook_log")
    op.drop_index("ix_api_keys_tenant", table_name="api_keys")
    op.drop_column("api_keys", "last_used_at")
    op.drop_column("api_keys", "expires_at")
    op.drop_column("api_keys", "name")
