"""The shapes of the command API's answers, for the OpenAPI document (services/ingress/openapi.py).

The routes build their answers from the domain's views; these models only describe them, so a client can be
generated from /openapi.json. Every one allows fields added later (a client must ignore what it does not know).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TX_ID = "0b9c6f0e-5a53-4c8e-9a43-3d1f5e6a7b21"
TENANT_ID = "7d2c1f3e-1111-4a5b-8c9d-0e1f2a3b4c5d"
ACCOUNT_ID = "3f6a2b1c-2222-4d5e-9f01-23456789abcd"
WHEN = "2026-12-03T08:00:00Z"


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class Problem(Answer):
    """An error, as application/problem+json (RFC 9457); `type`, `code` and `status` never change with the
    language of `title` and `detail`."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "https://billing.dev/problems/transaction_not_found",
                    "title": "Not Found",
                    "status": 404,
                    "code": "transaction_not_found",
                    "detail": f"no transaction {TX_ID}",
                    "instance": f"/v1/transactions/{TX_ID}",
                }
            ]
        },
    )

    type: str
    title: str
    status: int
    code: str
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(default=None, description="every invalid field (422)")


class Reporting(Answer):
    currency: str
    amount: int
    rate: str
    rate_date: str


class Transaction(Answer):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "id": TX_ID,
                    "tenant_id": TENANT_ID,
                    "account_id": ACCOUNT_ID,
                    "gateway": "<gateway name>",
                    "status": "pending",
                    "amount": 150000,
                    "refunded_amount": 0,
                    "currency": "UZS",
                    "reporting": None,
                    "details": {},
                    "metadata": {"project_id": "p-1"},
                    "payment_url": None,
                    "created_at": WHEN,
                    "updated_at": WHEN,
                }
            ]
        },
    )

    id: str
    tenant_id: str
    account_id: str
    gateway: str
    status: Literal["pending", "completed", "failed", "canceled", "expired", "partially_refunded", "refunded"]
    amount: int
    refunded_amount: int
    currency: str
    reporting: Reporting | None = None
    details: dict[str, Any]
    metadata: dict[str, Any]
    payment_url: str | None
    created_at: str
    updated_at: str


def _page_or_cursor_form(schema: dict[str, Any]) -> None:
    """GET /v1/transactions answers one of two shapes, chosen by `cursor`: say exactly which fields each has."""
    properties = schema.pop("properties")
    schema.pop("required", None)
    items = properties["items"]
    counted = {"type": "integer"}
    schema["anyOf"] = [
        {
            "title": "page form (without cursor)",
            "type": "object",
            "properties": {"items": items, "page": counted, "page_size": counted, "total": counted},
            "required": ["items", "page", "page_size", "total"],
        },
        {
            "title": "cursor form (with cursor): newest first, no total",
            "type": "object",
            "properties": {
                "items": items,
                "next_cursor": {
                    "anyOf": [{"type": "string"}, {"type": "null"}],
                    "description": "pass it back as `cursor` for the next page; null on the last page",
                },
            },
            "required": ["items", "next_cursor"],
        },
    ]


class TransactionPage(Answer):
    """A page of transactions: `{items, page, page_size, total}`, or with `cursor` `{items, next_cursor}`."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_page_or_cursor_form)

    items: list[Transaction]
    page: int | None = None
    page_size: int | None = None
    total: int | None = None
    next_cursor: str | None = None


class TransactionList(Answer):
    items: list[Transaction]


class TransactionCount(Answer):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{"count": 42}]})

    count: int


class CommandAccepted(Answer):
    """A command handed to the broker; the transaction changes when the processor has handled it."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {"transaction_id": TX_ID, "command": "cancel", "command_id": f"cancel:{TX_ID}", "status": "accepted"}
            ]
        },
    )

    transaction_id: str
    command: str
    command_id: str
    status: Literal["accepted"]


class Refund(Answer):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "id": "5e0c2b44-3333-4f4f-8a8a-0123456789ab",
                    "transaction_id": TX_ID,
                    "amount": 50000,
                    "status": "requested",
                    "reason": "customer asked",
                    "error": None,
                    "created_at": WHEN,
                    "updated_at": WHEN,
                }
            ]
        },
    )

    id: str
    transaction_id: str
    amount: int
    status: Literal["requested", "succeeded", "failed"]
    reason: str | None
    error: str | None
    created_at: str
    updated_at: str


class RefundList(Answer):
    items: list[Refund]


class AuditEntry(Answer):
    id: int
    actor: str
    action: str
    before: Any = None
    after: Any = None
    request_id: str | None = None
    at: str


class AuditTrail(Answer):
    items: list[AuditEntry]


class GatewayAccount(Answer):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "id": ACCOUNT_ID,
                    "tenant_id": TENANT_ID,
                    "gateway": "<gateway name>",
                    "config": {"name": "acme-pos"},
                    "secrets_set": ["secret"],
                    "webhook_urls": {"status": f"https://billing.example.com/webhooks/<gateway name>/{ACCOUNT_ID}"},
                    "created_at": WHEN,
                    "updated_at": WHEN,
                }
            ]
        },
    )

    id: str
    tenant_id: str
    gateway: str
    config: dict[str, Any]
    secrets_set: list[str]
    webhook_urls: dict[str, str]
    created_at: str
    updated_at: str


class GatewayAccountList(Answer):
    items: list[GatewayAccount]


class ApiKey(Answer):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "id": "9a8b7c6d-4444-4e5f-8a9b-0c1d2e3f4a5b",
                    "name": "reporting",
                    "permissions": ["billing.view"],
                    "created_at": WHEN,
                    "expires_at": None,
                    "last_used_at": WHEN,
                }
            ]
        },
    )

    id: str
    name: str | None
    permissions: list[str]
    created_at: str
    expires_at: str | None
    last_used_at: str | None = None


class IssuedApiKey(ApiKey):
    """A new key: `key` is shown here once and never again."""

    key: str = Field(examples=["bk_9a8b7c6d44444e5f8a9b0c1d2e3f4a5b_..."])


class ApiKeyList(Answer):
    items: list[ApiKey]


class ReconciliationQueued(Answer):
    id: str
    status: str


class Reconciliation(Answer):
    id: str
    account_id: str
    gateway: str
    status: str
    counts: dict[str, Any] | None = None
    differences: list[dict[str, Any]]


class Tenant(Answer):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"examples": [{"id": TENANT_ID, "name": "acme", "reporting_currency": "UZS"}]},
    )

    id: str
    name: str
    reporting_currency: str


class ExchangeRates(Answer):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"examples": [{"date": "2026-12-03", "quote": "UZS", "rates": {"USD": "12650.12"}}]},
    )

    date: str
    quote: str
    rates: dict[str, str]


class Health(Answer):
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok", "unavailable"]
    checks: dict[str, bool] | None = None


class GatewayAnswer(Answer):
    """A gateway's answer in that gateway's own format (JSON-RPC, a JSON object with an error code, ...);
    see docs/gateways/."""


class WebhookEndpoint(Answer):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "id": "1c2d3e4f-5555-4a6b-8c7d-9e0f1a2b3c4d",
                    "url": "https://shop.example.com/billing-events",
                    "events": ["transaction.completed"],
                    "description": "orders",
                    "enabled": True,
                    "created_at": WHEN,
                }
            ]
        },
    )

    id: str
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    created_at: str


class NewWebhookEndpoint(WebhookEndpoint):
    """A new endpoint: `secret` (`whsec_...`) is shown here and on rotation only."""

    secret: str


class WebhookEndpointList(Answer):
    items: list[WebhookEndpoint]


class WebhookSecret(Answer):
    secret: str


class WebhookDelivery(Answer):
    id: str
    event_id: str
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: list[dict[str, Any]]
    next_attempt_at: str | None


class WebhookDeliveryList(Answer):
    items: list[WebhookDelivery]


class DeliveryQueued(Answer):
    id: str
    status: str
