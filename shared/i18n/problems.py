"""The words of problem+json answers: a title per status and a sentence per code, translated from the catalogs.

In English the answer keeps the specific detail the code wrote; in another language the detail is the code's
translated sentence (the specific values stay in the answer's extension members), or the status' one.
"""

from __future__ import annotations

from shared.i18n import DEFAULT, N_, gettext_for

TITLES = {
    400: N_("Bad Request"),
    401: N_("Unauthorized"),
    403: N_("Forbidden"),
    404: N_("Not Found"),
    405: N_("Method Not Allowed"),
    409: N_("Conflict"),
    413: N_("Content Too Large"),
    415: N_("Unsupported Media Type"),
    422: N_("Unprocessable Content"),
    429: N_("Too Many Requests"),
    503: N_("Service Unavailable"),
}
FALLBACK_TITLE = N_("Error")

STATUS_DETAILS = {
    400: N_("The request could not be read."),
    401: N_("The request is not authenticated."),
    403: N_("The request is not permitted."),
    404: N_("The resource does not exist."),
    405: N_("This method is not allowed here."),
    409: N_("The request conflicts with the resource's current state."),
    413: N_("The request body is too large."),
    415: N_("This media type is not supported."),
    422: N_("The request is invalid."),
    429: N_("Too many requests; retry later."),
    503: N_("The service is unavailable; retry later."),
}
FALLBACK_DETAIL = N_("The request failed.")

CODE_DETAILS = {
    "account_in_use": N_("The gateway account still has transactions."),
    "account_not_found": N_("The gateway account does not exist."),
    "account_required": N_("Several accounts of this gateway exist: name one with account_id."),
    "api_key_expired": N_("The API key has expired."),
    "api_key_not_found": N_("The API key does not exist or is revoked."),
    "body_too_large": N_("The request body is larger than this route accepts."),
    "broker_unavailable": N_("The command could not be handed to the broker; retry later."),
    "database_unavailable": N_("The database is unavailable; retry later."),
    "malformed_event": N_("The event could not be read."),
    "unsafe_webhook_url": N_("The webhook URL is not allowed."),
    "invalid_webhook_events": N_("The list of webhook event types is invalid."),
    "webhook_delivery_not_found": N_("The webhook delivery does not exist."),
    "webhook_endpoint_not_found": N_("The webhook endpoint does not exist."),
    "idempotency_key_reused": N_("This Idempotency-Key was used with another body."),
    "invalid_amount": N_("The amount is not valid for this payment."),
    "invalid_api_key": N_("The API key is unknown or revoked."),
    "invalid_filter": N_("The search filter cannot be run."),
    "invalid_cursor": N_("The list cursor is not valid; start again from the first page."),
    "invalid_gateway_config": N_("The gateway account's configuration is invalid."),
    "invalid_request": N_("The request is invalid."),
    "malformed_json": N_("The body is not valid JSON."),
    "method_not_allowed": N_("This method is not allowed here."),
    "not_found": N_("The resource does not exist."),
    "not_manual": N_("Payments of this gateway are completed by the gateway itself."),
    "permission_denied": N_("The API key lacks the permission this request needs."),
    "rate_limited": N_("Too many requests; retry later."),
    "reconciliation_not_found": N_("The reconciliation run does not exist."),
    "refund_exceeds_remainder": N_("The refund exceeds the refundable remainder."),
    "refund_not_supported": N_("The gateway does not support this refund."),
    "tenant_not_found": N_("The tenant does not exist."),
    "transaction_not_found": N_("The transaction does not exist."),
    "transaction_was_paid": N_("The transaction was paid and cannot be deleted."),
    "transition_not_allowed": N_("The transaction's status does not allow this."),
    "unauthenticated": N_("Send the API key as Authorization: Bearer <key>."),
    "unknown_account": N_("The gateway account does not exist."),
}


def title(status: int, language: str) -> str:
    return gettext_for(language, TITLES.get(status, FALLBACK_TITLE))


def detail(status: int, code: str, english: str, language: str) -> str:
    if language == DEFAULT:
        return english
    sentence = CODE_DETAILS.get(code) or STATUS_DETAILS.get(status) or FALLBACK_DETAIL
    return gettext_for(language, sentence)
