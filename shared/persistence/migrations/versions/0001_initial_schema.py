"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 03:25:27.239650
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("transaction_id", sa.UUID(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_transaction", "audit_log", ["tenant_id", "transaction_id", "id"], unique=False)
    op.create_table(
        "idempotency_keys",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.Text(), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=False),
        sa.Column("response_body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "scope", "key"),
    )
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "message_id"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("routing_key", sa.Text(), nullable=False),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index("ix_outbox_unsent", "outbox", ["id"], unique=False, postgresql_where=sa.text("sent_at IS NULL"))
    op.create_table(
        "tenants",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "webhook_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("gateway", sa.Text(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_webhook_log_account", "webhook_log", ["account_id", "received_at"], unique=False)
    op.create_table(
        "api_keys",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("key_hash", sa.LargeBinary(), nullable=False),
        sa.Column("permissions", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "gateway_accounts",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("gateway", sa.Text(), nullable=False),
        sa.Column("public_config", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("secret_config", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_gateway_accounts_tenant", "gateway_accounts", ["tenant_id", "gateway"], unique=False)
    op.create_table(
        "transactions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("gateway", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("refunded_amount", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("payment_url", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending','completed','failed','canceled','expired','partially_refunded','refunded')",
            name="ck_transactions_status",
        ),
        sa.CheckConstraint("amount > 0", name="ck_transactions_amount_positive"),
        sa.CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= amount",
            name="ck_transactions_refunded_within_amount",
        ),
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
    op.create_index(
        "ix_transactions_details",
        "transactions",
        ["details"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"details": "jsonb_path_ops"},
    )
    op.create_index(
        "ix_transactions_pending_expiry",
        "transactions",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending' AND expires_at IS NOT NULL"),
    )
    op.create_index("ix_transactions_tenant_created", "transactions", ["tenant_id", "created_at"], unique=False)
    op.create_index("ix_transactions_tenant_status", "transactions", ["tenant_id", "status"], unique=False)
    op.create_index(
        "uq_transactions_click_trans_id",
        "transactions",
        ["account_id", sa.literal_column("(details->>'click_trans_id')")],
        unique=True,
        postgresql_where=sa.text("gateway = 'click' AND details ? 'click_trans_id'"),
    )
    op.create_index(
        "uq_transactions_octo_uuid",
        "transactions",
        ["account_id", sa.literal_column("(details->>'octo_payment_uuid')")],
        unique=True,
        postgresql_where=sa.text("gateway = 'octo' AND details ? 'octo_payment_uuid'"),
    )
    op.create_index(
        "uq_transactions_payme_id",
        "transactions",
        ["account_id", sa.literal_column("(details->>'payme_id')")],
        unique=True,
        postgresql_where=sa.text("gateway = 'payme' AND details ? 'payme_id'"),
    )
    op.create_index(
        "uq_transactions_stripe_session",
        "transactions",
        ["account_id", sa.literal_column("(details->>'session_id')")],
        unique=True,
        postgresql_where=sa.text("gateway = 'stripe' AND details ? 'session_id'"),
    )
    op.create_table(
        "refunds",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("transaction_id", sa.UUID(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("provider_refund_id", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('requested','succeeded','failed')", name="ck_refunds_status"),
        sa.CheckConstraint("amount > 0", name="ck_refunds_amount_positive"),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["transactions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_refunds_requested",
        "refunds",
        ["updated_at"],
        unique=False,
        postgresql_where=sa.text("status = 'requested'"),
    )
    op.create_index("ix_refunds_transaction", "refunds", ["transaction_id"], unique=False)
    op.execute(
        "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_index("ix_refunds_transaction", table_name="refunds")
    op.drop_index("ix_refunds_requested", table_name="refunds", postgresql_where=sa.text("status = 'requested'"))
    op.drop_table("refunds")
    op.drop_index(
        "uq_transactions_stripe_session",
        table_name="transactions",
        postgresql_where=sa.text("gateway = 'stripe' AND details ? 'session_id'"),
    )
    op.drop_index(
        "uq_transactions_payme_id",
        table_name="transactions",
        postgresql_where=sa.text("gateway = 'payme' AND details ? 'payme_id'"),
    )
    op.drop_index(
        "uq_transactions_octo_uuid",
        table_name="transactions",
        postgresql_where=sa.text("gateway = 'octo' AND details ? 'octo_payment_uuid'"),
    )
    op.drop_index(
        "uq_transactions_click_trans_id",
        table_name="transactions",
        postgresql_where=sa.text("gateway = 'click' AND details ? 'click_trans_id'"),
    )
    op.drop_index("ix_transactions_tenant_status", table_name="transactions")
    op.drop_index("ix_transactions_tenant_created", table_name="transactions")
    op.drop_index(
        "ix_transactions_pending_expiry",
        table_name="transactions",
        postgresql_where=sa.text("status = 'pending' AND expires_at IS NOT NULL"),
    )
    op.drop_index(
        "ix_transactions_details",
        table_name="transactions",
        postgresql_using="gin",
        postgresql_ops={"details": "jsonb_path_ops"},
    )
    op.drop_table("transactions")
    op.drop_index("ix_gateway_accounts_tenant", table_name="gateway_accounts")
    op.drop_table("gateway_accounts")
    op.drop_table("api_keys")
    op.drop_index("ix_webhook_log_account", table_name="webhook_log")
    op.drop_table("webhook_log")
    op.drop_table("tenants")
    op.drop_index("ix_outbox_unsent", table_name="outbox", postgresql_where=sa.text("sent_at IS NULL"))
    op.drop_table("outbox")
    op.drop_table("inbox")
    op.drop_table("idempotency_keys")
    op.drop_index("ix_audit_log_transaction", table_name="audit_log")
    op.drop_table("audit_log")
