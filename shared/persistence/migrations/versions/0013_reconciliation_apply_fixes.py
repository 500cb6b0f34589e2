"""reconciliation runs record whether they may apply fixes (a file from a key without billing.create may not)

Revision ID: 0013
Revises: 0020
Create Date: 2026-12-03 08:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Runs recorded before this column were allowed to fix (API sources, operators' files): true keeps that.
    op.add_column("reconciliations", sa.Column("apply_fixes", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    op.drop_column("reconciliations", "apply_fixes")
