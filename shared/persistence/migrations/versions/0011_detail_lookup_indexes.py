"""Partial indexes for looking transactions up by a gateway's own ids

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 04:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index name, expression, predicate key): what gateway callbacks look transactions up by.
LOOKUPS = [
    ("ix_tx_lookup_payme_id", "(details ->> 'payme_id')", "payme_id"),
    ("ix_tx_lookup_payme_order", "(details #>> '{account,order_id}')", "account"),
    ("ix_tx_lookup_click_trans_id", "(details ->> 'click_trans_id')", "click_trans_id"),
    ("ix_tx_lookup_merchant_trans_id", "(details ->> 'merchant_trans_id')", "merchant_trans_id"),
    ("ix_tx_lookup_octo_uuid", "(details ->> 'octo_payment_uuid')", "octo_payment_uuid"),
    ("ix_tx_lookup_stripe_session", "(details ->> 'session_id')", "session_id"),
    ("ix_tx_lookup_stripe_intent", "(details ->> 'payment_intent_id')", "payment_intent_id"),
    ("ix_tx_lookup_stripe_subscription", "(details ->> 'subscription_id')", "subscription_id"),
]


def upgrade() -> None:
    # Only rows that carry the key are indexed, so cash payments pay nothing for these on insert.
    for name, expression, key in LOOKUPS:
        op.execute(f"CREATE INDEX {name} ON transactions (account_id, {expression}) WHERE details ? '{key}'")


def downgrade() -> None:
    for name, _, _ in LOOKUPS:
        op.execute(f"DROP INDEX IF EXISTS {name}")
