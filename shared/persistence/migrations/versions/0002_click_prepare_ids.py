"""Click prepare and confirm ids from a sequence

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 03:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Click's merchant_prepare_id / merchant_confirm_id must be unique integers; a sequence, never a timestamp.
    op.execute("CREATE SEQUENCE click_merchant_ids START 1000")


def downgrade() -> None:
    op.execute("DROP SEQUENCE IF EXISTS click_merchant_ids")
