"""The schema, as SQLAlchemy Core tables (the Alembic migrations create exactly these)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

metadata = MetaData()

NOW = text("now()")
STATUSES = "'pending','completed','failed','canceled','expired','partially_refunded','refunded'"

tenants = Table(
    "tenants",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", Text, nullable=False),
    Column("reporting_currency", String(3), nullable=False, server_default=text("'UZS'")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("tenants.id"), nullable=False),
    Column("key_hash", LargeBinary, nullable=False),
    Column("permissions", ARRAY(Text), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("revoked_at", DateTime(timezone=True)),
    Column("name", Text),
    Column("expires_at", DateTime(timezone=True)),
    Column("last_used_at", DateTime(timezone=True)),
    Index("ix_api_keys_tenant", "tenant_id", "created_at"),
)

gateway_accounts = Table(
    "gateway_accounts",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("tenants.id"), nullable=False),
    Column("gateway", Text, nullable=False),
    Column("public_config", JSONB, nullable=False),
    Column("secret_config", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("deleted_at", DateTime(timezone=True)),
    Index("ix_gateway_accounts_tenant", "tenant_id", "gateway"),
)

transactions = Table(
    "transactions",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("tenants.id"), nullable=False),
    Column("account_id", UUID(as_uuid=True), ForeignKey("gateway_accounts.id"), nullable=False),
    Column("gateway", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("refunded_amount", BigInteger, nullable=False, server_default=text("0")),
    Column("currency", String(3), nullable=False),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("payment_url", Text),
    Column("version", Integer, nullable=False, server_default=text("0")),
    Column("expires_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("deleted_at", DateTime(timezone=True)),
    Column("reporting", JSONB),
    CheckConstraint("amount > 0", name="ck_transactions_amount_positive"),
    CheckConstraint(
        "refunded_amount >= 0 AND refunded_amount <= amount", name="ck_transactions_refunded_within_amount"
    ),
    CheckConstraint(f"status IN ({STATUSES})", name="ck_transactions_status"),
    # Newest-first keyset pages (migration 0070): the walk's order, with and without the status filter.
    Index("ix_transactions_tenant_created", "tenant_id", text("created_at DESC"), text("id DESC")),
    Index("ix_transactions_tenant_status", "tenant_id", "status", text("created_at DESC"), text("id DESC")),
    Index(
        "ix_transactions_details",
        "details",
        postgresql_using="gin",
        postgresql_ops={"details": "jsonb_path_ops"},
    ),
    Index(
        "ix_transactions_pending_expiry",
        "expires_at",
        postgresql_where=text("status = 'pending' AND expires_at IS NOT NULL"),
    ),
    # Each gateway's own id is unique per account too: those partial indexes live in the migrations that made them.
)

refunds = Table(
    "refunds",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("tenants.id"), nullable=False),
    Column("transaction_id", UUID(as_uuid=True), ForeignKey("transactions.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("status", Text, nullable=False),
    Column("reason", Text),
    Column("error", Text),
    Column("provider_refund_id", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint("amount > 0", name="ck_refunds_amount_positive"),
    CheckConstraint("status IN ('requested','succeeded','failed')", name="ck_refunds_status"),
    Index("ix_refunds_transaction", "transaction_id"),
    Index("ix_refunds_requested", "updated_at", postgresql_where=text("status = 'requested'")),
    Index("ix_refunds_tenant_created", "tenant_id", text("created_at DESC"), text("id DESC")),
    Index("ix_refunds_tenant_status", "tenant_id", "status", text("created_at DESC"), text("id DESC")),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("transaction_id", UUID(as_uuid=True), nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("before", JSONB),
    Column("after", JSONB, nullable=False),
    Column("request_id", Text),
    Column("at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Index("ix_audit_log_transaction", "tenant_id", "transaction_id", "id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("routing_key", Text, nullable=False),
    Column("body", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("sent_at", DateTime(timezone=True)),
    Index("ix_outbox_unsent", "id", postgresql_where=text("sent_at IS NULL")),
)

inbox = Table(
    "inbox",
    metadata,
    Column("consumer", Text, nullable=False),
    Column("message_id", Text, nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    PrimaryKeyConstraint("consumer", "message_id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("scope", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("request_hash", Text, nullable=False),
    Column("response_status", Integer, nullable=False),
    Column("response_body", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    PrimaryKeyConstraint("tenant_id", "scope", "key"),
)

webhook_log = Table(
    "webhook_log",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("account_id", UUID(as_uuid=True), nullable=False),
    Column("gateway", Text, nullable=False),
    Column("message_id", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("outcome", Text),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Index("ix_webhook_log_account", "account_id", "received_at"),
    Index("ix_webhook_log_received", "received_at"),
)

reconciliations = Table(
    "reconciliations",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("tenants.id"), nullable=False),
    Column("account_id", UUID(as_uuid=True), ForeignKey("gateway_accounts.id"), nullable=False),
    Column("gateway", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("period_from", DateTime(timezone=True), nullable=False),
    Column("period_to", DateTime(timezone=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("counts", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("error", Text),
    Column("file_name", Text),
    Column("file_body", LargeBinary),
    Column("nightly", Integer, nullable=False, server_default=text("0")),
    Column("apply_fixes", Boolean, nullable=False, server_default=true()),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("completed_at", DateTime(timezone=True)),
    CheckConstraint("status IN ('queued','running','completed','failed')", name="ck_reconciliations_status"),
    CheckConstraint("source IN ('api','file')", name="ck_reconciliations_source"),
    Index("ix_reconciliations_tenant", "tenant_id", "created_at"),
    Index(
        "uq_reconciliations_nightly",
        "account_id",
        "period_from",
        "period_to",
        unique=True,
        postgresql_where=text("nightly = 1"),
    ),
)

reconciliation_records = Table(
    "reconciliation_records",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("run_id", UUID(as_uuid=True), ForeignKey("reconciliations.id", ondelete="CASCADE"), nullable=False),
    Column("transaction_id", UUID(as_uuid=True)),
    Column("reference", Text),
    Column("merchant_reference", Text),
    Column("amount", BigInteger),
    Column("refunded_amount", BigInteger),
    Column("currency", String(3)),
    Column("status", Text),
    Index("ix_reconciliation_records_run_tx", "run_id", "transaction_id"),
    Index("ix_reconciliation_records_run_ref", "run_id", "reference"),
)

reconciliation_differences = Table(
    "reconciliation_differences",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("run_id", UUID(as_uuid=True), ForeignKey("reconciliations.id", ondelete="CASCADE"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("resolution", Text, nullable=False),
    Column("transaction_id", UUID(as_uuid=True)),
    Column("reference", Text),
    Column("ours", JSONB),
    Column("theirs", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Index("ix_reconciliation_differences_run", "run_id", "id"),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("tenants.id"), nullable=False),
    Column("url", Text, nullable=False),
    Column("events", ARRAY(Text), nullable=False),
    Column("description", Text),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("secrets", LargeBinary, nullable=False),
    Column("previous_secret_until", DateTime(timezone=True)),
    Column("disabled_reason", Text),
    Column("failing_since", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Index("ix_webhook_endpoints_tenant", "tenant_id", "created_at"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("endpoint_id", UUID(as_uuid=True), ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("event_type", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempt_count", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("leased_until", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint("status IN ('pending','delivered','failed')", name="ck_webhook_deliveries_status"),
    UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"),
    Index("ix_webhook_deliveries_due", "endpoint_id", "next_attempt_at", postgresql_where=text("status = 'pending'")),
    Index(
        "ix_webhook_deliveries_leased",
        "endpoint_id",
        postgresql_where=text("status = 'pending' AND leased_until IS NOT NULL"),
    ),
    Index("ix_webhook_deliveries_endpoint", "endpoint_id", "created_at"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("delivery_id", UUID(as_uuid=True), ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("status_code", Integer),
    Column("duration_ms", Integer, nullable=False),
    Column("error", Text),
    Column("response_excerpt", Text),
    Index("ix_webhook_attempts_delivery", "delivery_id", "id"),
)

exchange_rates = Table(
    "exchange_rates",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("day", Date, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("quote", String(3), nullable=False),
    Column("rate", Numeric, nullable=False),
    Column("nominal", Integer, nullable=False, server_default=text("1")),
    Column("source", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint("rate > 0", name="ck_exchange_rates_rate_positive"),
    CheckConstraint("nominal > 0", name="ck_exchange_rates_nominal_positive"),
    CheckConstraint("currency <> quote", name="ck_exchange_rates_pair"),
    Index("ix_exchange_rates_lookup", "currency", "day", "quote", "id"),
)
"""Append-only: a correction is a new row, and the newest row of a (day, currency, quote) is the one used."""

rate_fetches = Table(
    "rate_fetches",
    metadata,
    Column("source", Text, nullable=False),
    Column("day", Date, nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("done_at", DateTime(timezone=True)),
    Column("outcome", Text),
    PrimaryKeyConstraint("source", "day"),
)
"""One scheduled fetch per rate source and day across every processor replica."""

operators = Table(
    "operators",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), ForeignKey("tenants.id"), nullable=False),
    Column("email", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("permissions", ARRAY(Text), nullable=False),
    Column("timezone", Text, nullable=False, server_default=text("'UTC'")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("disabled_at", DateTime(timezone=True)),
    Index("uq_operators_email", text("lower(email)"), unique=True),
    Index("ix_operators_tenant", "tenant_id", "created_at"),
)
"""People who use the console: one tenant each, an email unique across the service, Argon2 password hashes."""

operator_sessions = Table(
    "operator_sessions",
    metadata,
    Column("token_hash", LargeBinary, primary_key=True),
    Column("operator_id", UUID(as_uuid=True), ForeignKey("operators.id"), nullable=False),
    Column("csrf_token", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("last_seen_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Index("ix_operator_sessions_operator", "operator_id"),
)
"""Server-side console sessions: the cookie holds a random token, only its hash is stored."""

operator_sign_in_failures = Table(
    "operator_sign_in_failures",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("email", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Index("ix_operator_sign_in_failures_email", "email", "at"),
)
"""Failed sign-ins per (lower-cased) email: five within the lock window lock that email."""
