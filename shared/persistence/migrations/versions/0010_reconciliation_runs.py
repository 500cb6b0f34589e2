"""reconciliation runs

Revision ID: 0010
Revises: 0002
Create Date: 2026-11-26 03:42:52.315842
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reconciliations",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("gateway", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("period_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_to", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column(
            "counts", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("file_name", sa.Text(), nullable=True),
        sa.Column("file_body", sa.LargeBinary(), nullable=True),
        sa.Column("nightly", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("source IN ('api','file')", name="ck_reconciliations_source"),
        sa.CheckConstraint("status IN ('queued','running','completed','failed')", name="ck_reconciliations_status"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["gateway_accounts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_reconciliations_tenant", "reconciliations", ["tenant_id", "created_at"], unique=False)
    op.create_index(
        "uq_reconciliations_nightly",
        "reconciliations",
        ["account_id", "period_from", "period_to"],
        unique=True,
        postgresql_where=sa.text("nightly = 1"),
    )
    op.create_table(
        "reconciliation_differences",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("resolution", sa.Text(), nullable=False),
        sa.Column("transaction_id", sa.UUID(), nullable=True),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("ours", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("theirs", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["reconciliations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_reconciliation_differences_run", "reconciliation_differences", ["run_id", "id"], unique=False)
    op.create_table(
        "reconciliation_records",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("transaction_id", sa.UUID(), nullable=True),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("merchant_reference", sa.Text(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("refunded_amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["reconciliations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_reconciliation_records_run_ref", "reconciliation_records", ["run_id", "reference"], unique=False
    )
    op.create_index(
        "ix_reconciliation_records_run_tx", "reconciliation_records", ["run_id", "transaction_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_reconciliation_records_run_tx", table_name="reconciliation_records")
    op.drop_index("ix_reconciliation_records_run_ref", table_name="reconciliation_records")
    op.drop_table("reconciliation_records")
    op.drop_index("ix_reconciliation_differences_run", table_name="reconciliation_differences")
    op.drop_table("reconciliation_differences")
    op.drop_index("uq_reconciliations_nightly", table_name="reconciliations", postgresql_where=sa.text("nightly = 1"))
    op.drop_index("ix_reconciliations_tenant", table_name="reconciliations")
    op.drop_table("reconciliations")
