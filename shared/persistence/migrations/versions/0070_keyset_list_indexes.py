"""Indexes that serve newest-first keyset pages: (tenant_id, created_at DESC, id DESC), and with the status filter

Revision ID: 0070
Revises: 0013
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0070"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (old index, its columns, the index that replaces it): each new one starts with the old one's columns, so it
# serves every query the old one served, and the number of indexes a payment's insert maintains stays the same.
REPLACED = [
    ("ix_transactions_tenant_created", "tenant_id, created_at", "tenant_id, created_at DESC, id DESC"),
    ("ix_transactions_tenant_status", "tenant_id, status", "tenant_id, status, created_at DESC, id DESC"),
]


def _rebuild(name: str, columns: str) -> None:
    # CONCURRENTLY keeps payments flowing while a large table is indexed; it cannot run inside a transaction.
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}_next")  # left invalid by an interrupted run
        op.execute(f"CREATE INDEX CONCURRENTLY {name}_next ON transactions ({columns})")
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        op.execute(f"ALTER INDEX {name}_next RENAME TO {name}")


def upgrade() -> None:
    for name, _, new in REPLACED:
        _rebuild(name, new)


def downgrade() -> None:
    for name, old, _ in REPLACED:
        _rebuild(name, old)
