"""Indexes for the console's newest-first keyset pages of refunds: (tenant_id[, status], created_at DESC, id DESC)

Revision ID: 0080
Revises: 0060
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0080"
down_revision: str | None = "0060"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_refunds_tenant_created": "tenant_id, created_at DESC, id DESC",
    "ix_refunds_tenant_status": "tenant_id, status, created_at DESC, id DESC",
}


def upgrade() -> None:
    # CONCURRENTLY keeps refunds flowing while a large table is indexed; it cannot run inside a transaction.
    with op.get_context().autocommit_block():
        for name, columns in INDEXES.items():
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")  # left invalid by an interrupted run
            op.execute(f"CREATE INDEX CONCURRENTLY {name} ON refunds ({columns})")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for name in INDEXES:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
