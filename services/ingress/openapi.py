"""The OpenAPI document at /openapi.json, completed so a client can be generated from it.

FastAPI derives paths, parameters and request bodies from the routes; this adds what it cannot know: the
bearer security scheme, a named schema for every 2xx answer (services/ingress/answers.py), the
problem+json errors each operation can answer with their `code` values, unique operation ids, and the
gateway webhooks in their own tag, without security (each gateway signs in its own way).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from services.ingress import answers
from services.ingress.problems import PROBLEM_JSON
from shared.i18n import problems as words

BEARER = "bearerAuth"
WEBHOOKS_TAG = "gateway webhooks"
ANSWERS: tuple[type[answers.Answer], ...] = (
    answers.Problem,
    answers.Transaction,
    answers.TransactionPage,
    answers.TransactionList,
    answers.TransactionCount,
    answers.CommandAccepted,
    answers.Refund,
    answers.RefundList,
    answers.AuditTrail,
    answers.GatewayAccount,
    answers.GatewayAccountList,
    answers.ApiKey,
    answers.IssuedApiKey,
    answers.ApiKeyList,
    answers.ReconciliationQueued,
    answers.Reconciliation,
    answers.Tenant,
    answers.ExchangeRates,
    answers.Health,
    answers.GatewayAnswer,
    answers.WebhookEndpoint,
    answers.NewWebhookEndpoint,
    answers.WebhookEndpointList,
    answers.WebhookSecret,
    answers.WebhookDeliveryList,
    answers.DeliveryQueued,
)
SUCCESS = {
    ("post", "/v1/transactions"): ("202", "Transaction", "201 with ?wait=true when the processor answered in time"),
    ("get", "/v1/transactions"): ("200", "TransactionPage", None),
    ("get", "/v1/transactions/count"): ("200", "TransactionCount", None),
    ("post", "/v1/transactions/search"): ("200", "TransactionList", None),
    ("get", "/v1/transactions/{transaction_id}"): ("200", "Transaction", None),
    ("delete", "/v1/transactions/{transaction_id}"): ("202", "CommandAccepted", None),
    ("post", "/v1/transactions/{transaction_id}/complete"): ("202", "CommandAccepted", None),
    ("post", "/v1/transactions/{transaction_id}/cancel"): ("202", "CommandAccepted", None),
    ("post", "/v1/transactions/{transaction_id}/refunds"): ("202", "Refund", None),
    ("get", "/v1/transactions/{transaction_id}/refunds"): ("200", "RefundList", None),
    ("get", "/v1/transactions/{transaction_id}/audit"): ("200", "AuditTrail", None),
    ("post", "/v1/gateway-accounts"): ("201", "GatewayAccount", None),
    ("get", "/v1/gateway-accounts"): ("200", "GatewayAccountList", None),
    ("get", "/v1/gateway-accounts/{account_id}"): ("200", "GatewayAccount", None),
    ("patch", "/v1/gateway-accounts/{account_id}"): ("200", "GatewayAccount", None),
    ("post", "/v1/api-keys"): ("201", "IssuedApiKey", None),
    ("get", "/v1/api-keys"): ("200", "ApiKeyList", None),
    ("post", "/v1/reconciliations"): ("202", "ReconciliationQueued", None),
    ("get", "/v1/reconciliations/{run_id}"): ("200", "Reconciliation", None),
    ("get", "/v1/tenant"): ("200", "Tenant", None),
    ("patch", "/v1/tenant"): ("200", "Tenant", None),
    ("get", "/v1/exchange-rates"): ("200", "ExchangeRates", None),
    ("post", "/v1/webhook-endpoints"): ("201", "NewWebhookEndpoint", None),
    ("get", "/v1/webhook-endpoints"): ("200", "WebhookEndpointList", None),
    ("get", "/v1/webhook-endpoints/{endpoint_id}"): ("200", "WebhookEndpoint", None),
    ("patch", "/v1/webhook-endpoints/{endpoint_id}"): ("200", "WebhookEndpoint", None),
    ("post", "/v1/webhook-endpoints/{endpoint_id}/rotate-secret"): ("200", "WebhookSecret", None),
    ("get", "/v1/webhook-endpoints/{endpoint_id}/deliveries"): ("200", "WebhookDeliveryList", None),
    ("post", "/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/retry"): ("202", "DeliveryQueued", None),
    ("get", "/health/live"): ("200", "Health", None),
    ("get", "/health/ready"): ("200", "Health", None),
}
"""(method, path) -> (2xx status, answer schema, note); operations answering 204 have no body."""

AUTHENTICATED = {
    "401": ["unauthenticated", "invalid_api_key", "api_key_expired"],
    "403": ["permission_denied"],
    "429": ["rate_limited"],
    "503": ["database_unavailable"],
}
BODY = {"400": ["malformed_json"], "413": ["body_too_large"], "422": ["invalid_request"]}
QUERY = {"422": ["invalid_request"]}
TX = {"404": ["transaction_not_found"]}
BROKER = {"503": ["broker_unavailable"]}
ENDPOINT = {"404": ["webhook_endpoint_not_found"]}
ENDPOINT_INPUT = {"422": ["unsafe_webhook_url", "invalid_webhook_events"]}
ERRORS: dict[tuple[str, str], list[dict[str, list[str]]]] = {
    ("post", "/v1/transactions"): [
        BODY,
        BROKER,
        {
            "409": ["idempotency_key_reused"],
            "422": [
                "unknown_gateway",
                "unknown_currency",
                "invalid_amount",
                "invalid_details",
                "unknown_account",
                "account_required",
            ],
        },
    ],
    ("get", "/v1/transactions"): [QUERY, {"422": ["invalid_cursor"]}],
    ("get", "/v1/transactions/count"): [QUERY],
    ("post", "/v1/transactions/search"): [BODY, {"422": ["invalid_filter"]}],
    ("get", "/v1/transactions/{transaction_id}"): [QUERY, TX],
    ("delete", "/v1/transactions/{transaction_id}"): [QUERY, TX, BROKER, {"409": ["transaction_was_paid"]}],
    ("post", "/v1/transactions/{transaction_id}/complete"): [
        BODY,
        TX,
        BROKER,
        {"409": ["not_manual", "transition_not_allowed"], "422": ["invalid_amount"]},
    ],
    ("post", "/v1/transactions/{transaction_id}/cancel"): [BODY, TX, BROKER, {"409": ["transition_not_allowed"]}],
    ("post", "/v1/transactions/{transaction_id}/refunds"): [
        BODY,
        TX,
        BROKER,
        {
            "409": ["transition_not_allowed", "idempotency_key_reused"],
            "422": ["refund_not_supported", "refund_exceeds_remainder"],
        },
    ],
    ("get", "/v1/transactions/{transaction_id}/refunds"): [QUERY, TX],
    ("get", "/v1/transactions/{transaction_id}/audit"): [QUERY, TX],
    ("post", "/v1/gateway-accounts"): [BODY, {"422": ["unknown_gateway", "invalid_gateway_config"]}],
    ("get", "/v1/gateway-accounts"): [],
    ("get", "/v1/gateway-accounts/{account_id}"): [QUERY, {"404": ["account_not_found"]}],
    ("patch", "/v1/gateway-accounts/{account_id}"): [
        BODY,
        {"404": ["account_not_found"], "422": ["invalid_gateway_config"]},
    ],
    ("delete", "/v1/gateway-accounts/{account_id}"): [
        QUERY,
        {"404": ["account_not_found"], "409": ["account_in_use"]},
    ],
    ("post", "/v1/api-keys"): [BODY],
    ("get", "/v1/api-keys"): [],
    ("delete", "/v1/api-keys/{key_id}"): [QUERY, {"404": ["api_key_not_found"]}],
    ("post", "/v1/reconciliations"): [BODY, BROKER, {"404": ["account_not_found"]}],
    ("get", "/v1/reconciliations/{run_id}"): [QUERY, {"404": ["reconciliation_not_found"]}],
    ("get", "/v1/tenant"): [{"404": ["tenant_not_found"]}],
    ("patch", "/v1/tenant"): [BODY, {"404": ["tenant_not_found"], "422": ["unknown_currency"]}],
    ("get", "/v1/exchange-rates"): [QUERY, {"422": ["unknown_currency"]}],
    ("post", "/v1/webhook-endpoints"): [BODY, ENDPOINT_INPUT],
    ("get", "/v1/webhook-endpoints"): [],
    ("get", "/v1/webhook-endpoints/{endpoint_id}"): [QUERY, ENDPOINT],
    ("patch", "/v1/webhook-endpoints/{endpoint_id}"): [BODY, ENDPOINT, ENDPOINT_INPUT],
    ("delete", "/v1/webhook-endpoints/{endpoint_id}"): [QUERY, ENDPOINT],
    ("post", "/v1/webhook-endpoints/{endpoint_id}/rotate-secret"): [QUERY, ENDPOINT],
    ("get", "/v1/webhook-endpoints/{endpoint_id}/deliveries"): [QUERY, ENDPOINT],
    ("post", "/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/retry"): [
        QUERY,
        {"404": ["webhook_endpoint_not_found", "webhook_delivery_not_found"]},
    ],
}
WEBHOOK_ERRORS = {
    "400": ["malformed_json", "malformed_event"],
    "401": ["unauthenticated"],
    "404": ["transaction_not_found", "not_found"],
    "413": ["body_too_large"],
    "422": ["invalid_request"],
    "503": ["broker_unavailable", "database_unavailable"],
}
EVERYWHERE = {"413": ["body_too_large"], "500": ["internal_error"]}
"""Every route counts its body (services/ingress/body_limits.py); any may fail unexpectedly."""
CLEARER_IDS = {
    "live": "health_live",
    "ready": "health_ready",
    "start_run": "start_reconciliation",
    "get_run": "get_reconciliation",
    "exchange_rates": "get_exchange_rates",
}


def install(app: FastAPI) -> None:
    """Serve the completed document (built once, on first request) at /openapi.json."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=[{"name": WEBHOOKS_TAG, "description": "Called by the gateways, each in its own protocol"}],
            )
            app.openapi_schema = complete(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any]) -> dict[str, Any]:
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    _, definitions = models_json_schema(
        [(model, "serialization") for model in ANSWERS], ref_template="#/components/schemas/{model}"
    )
    schemas.update(definitions.get("$defs", {}))
    components["securitySchemes"] = {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (`bk_...`) of one tenant; it carries permissions (billing.view, ...)",
        }
    }
    seen: dict[str, int] = {}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            _complete_operation(path, method, operation, seen)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


def _complete_operation(path: str, method: str, operation: dict[str, Any], seen: dict[str, int]) -> None:
    wanted = operation.get("operationId", f"{method}_{path}")
    if path.startswith("/webhooks/") and not wanted.startswith(path.split("/")[2]):
        wanted = f"{path.split('/')[2]}_{wanted}"  # a webhook's id starts with its gateway's name
    operation["operationId"] = _unique(wanted, method, seen)
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)  # FastAPI's own shape; the service answers problem+json (below)
    webhook = path.startswith("/webhooks/")
    if webhook:
        operation["tags"] = [WEBHOOKS_TAG]
        operation["security"] = []
        _success(responses, "200", "GatewayAnswer", "the gateway's own answer format (errors included)")
        _problems(responses, [WEBHOOK_ERRORS, EVERYWHERE])
        for status, response in responses.items():
            if status[0] in "45":  # a gateway may answer errors in its own JSON too
                response["content"]["application/json"] = {"schema": {"$ref": "#/components/schemas/GatewayAnswer"}}
        return
    found = SUCCESS.get((method, path))
    if found is not None:
        status, schema, note = found
        for other in [code for code in responses if code.startswith("2") and code != status]:
            responses.pop(other)
        _success(responses, status, schema, note)
        if schema == "Transaction" and method == "post":
            _success(responses, "201", schema, "created and handled by the processor (?wait=true)")
    if path.startswith("/v1/"):
        operation["security"] = [{BEARER: []}]
        _problems(responses, [AUTHENTICATED, *ERRORS.get((method, path), [QUERY]), EVERYWHERE])
    elif path == "/health/ready":
        operation["security"] = []
        _problems(responses, [EVERYWHERE])
        responses["503"] = {
            "description": "PostgreSQL or RabbitMQ does not answer",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}},
        }
    else:
        operation["security"] = []
        _problems(responses, [EVERYWHERE])


def _success(responses: dict[str, Any], status: str, schema: str, note: str | None) -> None:
    ref = {"$ref": f"#/components/schemas/{schema}"}
    responses[status] = {
        "description": note or responses.get(status, {}).get("description") or "Successful Response",
        "content": {"application/json": {"schema": ref}},
    }


def _problems(responses: dict[str, Any], tables: list[dict[str, list[str]]]) -> None:
    codes: dict[str, list[str]] = {}
    for table in tables:
        for status, names in table.items():
            codes.setdefault(status, [])
            codes[status] += [name for name in names if name not in codes[status]]
    for status, names in sorted(codes.items()):
        schema = {
            "allOf": [
                {"$ref": "#/components/schemas/Problem"},
                {"type": "object", "properties": {"code": {"type": "string", "enum": names}}},
            ]
        }
        responses[status] = {
            "description": f"{words.title(int(status), 'en')}: " + ", ".join(f"`{name}`" for name in names),
            "content": {PROBLEM_JSON: {"schema": schema}},
        }
        if status == "429":
            responses[status]["headers"] = {
                "Retry-After": {"schema": {"type": "integer"}, "description": "seconds until a request is allowed"}
            }


def _unique(wanted: str, method: str, seen: dict[str, int]) -> str:
    wanted = CLEARER_IDS.get(wanted, wanted)
    name = wanted
    if name in seen:
        name = f"{wanted}_{method}"
    seen[name] = seen.get(name, 0) + 1
    return name
