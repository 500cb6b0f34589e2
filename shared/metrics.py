"""Every Prometheus metric of the billing service, in one place; each service exposes them at /metrics."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "billing_http_requests_total", "HTTP requests answered by the ingress.", ("method", "route", "status")
)
HTTP_LATENCY = Histogram(
    "billing_http_request_duration_seconds",
    "Time from the request's arrival to the end of its answer.",
    ("method", "route"),
    buckets=LATENCY_BUCKETS,
)
MESSAGES_CONSUMED = Counter(
    "billing_messages_consumed_total",
    "Command messages settled by a worker; outcome is done, rejected, retry, parked or error (requeued).",
    ("queue", "routing_key", "outcome"),
)
HANDLER_LATENCY = Histogram(
    "billing_message_handling_seconds",
    "Time to handle and settle one command message.",
    ("queue", "routing_key"),
    buckets=LATENCY_BUCKETS,
)
MESSAGES_PUBLISHED = Counter(
    "billing_messages_published_total", "Messages RabbitMQ confirmed.", ("exchange", "routing_key")
)
PUBLISH_FAILURES = Counter(
    "billing_publish_failures_total",
    "Messages RabbitMQ did not confirm (unroutable, nacked, timed out or no channel).",
    ("exchange", "routing_key"),
)
RETRIES = Counter(
    "billing_message_retries_total", "Messages sent to the delay queue for another attempt.", ("queue", "routing_key")
)
PARKED = Counter(
    "billing_messages_parked_total",
    "Messages sent to billing.parking; reason is invalid (never processable) or exhausted (attempts used up).",
    ("queue", "routing_key", "reason"),
)
OUTBOX_LAG = Gauge("billing_outbox_lag_seconds", "Age of the oldest unsent outbox row (0 when none is waiting).")
OUTBOX_UNSENT = Gauge("billing_outbox_unsent", "Outbox rows not yet confirmed by RabbitMQ.")
REPLICA_FALLBACKS = Counter(
    "billing_replica_fallbacks_total", "Read-only queries run on the primary because the read replica failed."
)
EVENTS_RELAYED = Counter(
    "billing_events_relayed_total", "Events the outbox relay published to billing.events.", ("routing_key",)
)
WEBHOOK_ATTEMPTS = Counter(
    "billing_webhook_attempts_total",
    "POSTs to merchants' webhook endpoints, by what they came to (delivered, retry, gone, failed).",
    ("outcome",),
)
WEBHOOK_LATENCY = Histogram(
    "billing_webhook_attempt_seconds", "How long a merchant endpoint took to answer.", buckets=LATENCY_BUCKETS
)
PAYMENTS = Counter(
    "billing_payments_total",
    "Transaction status changes committed, by gateway and the status reached (pending = created).",
    ("gateway", "status"),
)

REPORTING_RATE_MISSING = Counter(
    "billing_reporting_rate_missing_total",
    "Changes committed without a conversion into the tenant's reporting currency: no rate of the last 7 days.",
    ("currency", "reporting_currency"),
)

RATES_FETCHES = Counter(
    "billing_rates_fetches_total",
    "Scheduled fetches of the day's exchange rates by this replica; outcome is stored or failed.",
    ("source", "outcome"),
)


def exchange_label(exchange: str) -> str:
    """The default exchange has no name; Prometheus would drop an empty label value."""
    return exchange or "amq.default"


def serve(port: int, host: str) -> bool:
    """Serve /metrics from a background thread; a busy port disables metrics rather than the worker."""
    if port == 0:
        return False
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        log.warning("metrics disabled: cannot listen", extra={"port": port, "host": host, "error": str(exc)})
        return False
    return True
