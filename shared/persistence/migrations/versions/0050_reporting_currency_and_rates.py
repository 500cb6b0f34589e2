"""reporting currency per tenant, dated exchange rates, the stored conversion of each transaction

Revision ID: 0050
Revises: 0030
Create Date: 2026-12-03 08:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0050"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "tenants", sa.Column("reporting_currency", sa.String(3), server_default=sa.text("'UZS'"), nullable=False)
    )
    op.add_column("transactions", sa.Column("reporting", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.create_table(
        "exchange_rates",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("quote", sa.String(3), nullable=False),
        sa.Column("rate", sa.Numeric(), nullable=False),
        sa.Column("nominal", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("rate > 0", name="ck_exchange_rates_rate_positive"),
        sa.CheckConstraint("nominal > 0", name="ck_exchange_rates_nominal_positive"),
        sa.CheckConstraint("currency <> quote", name="ck_exchange_rates_pair"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_exchange_rates_lookup", "exchange_rates", ["currency", "day", "quote", "id"])
    op.create_table(
        "rate_fetches",
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("source", "day"),
    )


def downgrade() -> None:
    op.drop_table("rate_fetches")
    op.drop_index("ix_exchange_rates_lookup", table_name="exchange_rates")
    op.drop_table("exchange_rates")
    op.drop_column("transactions", "reporting")
    op.drop_column("tenants", "reporting_currency")
