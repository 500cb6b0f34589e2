"""OpenTelemetry tracing: off by default (then every helper here is a no-op), one setting turns it on.

The trace context travels as W3C `traceparent` in AMQP headers (commands, gateway calls, events) and as the
CloudEvents distributed-tracing extension attribute inside outbox rows, so one payment is one trace from the
HTTP request through the broker and PostgreSQL to the provider call and the event.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Span, SpanKind, Tracer

__all__ = ["SpanKind", "configure", "enabled", "inject", "instrument_app", "shutdown", "span"]

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

TRACE_FIELDS = ("traceparent", "tracestate")

_provider: TracerProvider | None = None
_tracer: Tracer = trace.NoOpTracer()


def enabled() -> bool:
    return _provider is not None


def configure(mode: str, service: str, exporter: SpanExporter | None = None) -> None:
    """Turn tracing on for this process (`mode` console or otlp, or any mode with an explicit exporter)."""
    global _provider, _tracer
    if mode == "off" and exporter is None:
        return
    if _provider is not None:
        if exporter is not None:
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor

            _provider.add_span_processor(SimpleSpanProcessor(exporter))
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased

    from shared.tracing_sampler import SkipOrphanClientSpans

    name = os.environ.get("OTEL_SERVICE_NAME") or f"billing-{service}"
    provider = TracerProvider(
        resource=Resource.create({"service.name": name}), sampler=ParentBased(SkipOrphanClientSpans())
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif mode == "console":
        # One JSON object per line on stdout, so a log shipper (or a test) can read it back.
        console = ConsoleSpanExporter(out=sys.stdout, formatter=lambda span: span.to_json(indent=None) + "\n")
        provider.add_span_processor(SimpleSpanProcessor(console))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # reads OTEL_EXPORTER_OTLP_*
    trace.set_tracer_provider(provider)
    _provider = provider
    _tracer = provider.get_tracer("billing")
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    # At the driver: statements are traced whether SQLAlchemy built them or the hot path wrote them.
    AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]


def reset() -> None:
    """Back to off (tests only): later engines, apps and messages are not traced."""
    global _provider, _tracer
    if _provider is None:
        return
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().uninstrument()
    AsyncPGInstrumentor().uninstrument()  # type: ignore[no-untyped-call]
    _provider = None
    _tracer = trace.NoOpTracer()


def shutdown() -> None:
    """Flush what is buffered (OTLP batches) before the process exits."""
    if _provider is not None:
        _provider.shutdown()


def instrument_app(app: Any) -> None:
    """Server spans for the FastAPI app; probes and scrapes are not traced."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=_provider, excluded_urls="/health/.*,/metrics", exclude_spans=["receive", "send"]
    )


class _HeaderGetter(Getter[Mapping[str, Any]]):
    """AMQP header values may arrive as bytes."""

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        value = carrier.get(key)
        if value is None:
            return None
        return [value.decode() if isinstance(value, bytes) else str(value)]

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return list(carrier)


_GETTER = _HeaderGetter()


def inject(carrier: MutableMapping[str, Any]) -> None:
    """Write the current trace context (traceparent) into message headers or a CloudEvent."""
    if _provider is not None:
        propagate.inject(carrier)


def stamp_event(body: dict[str, Any]) -> None:
    """Carry the trace into an outbox row: the CloudEvents distributed-tracing extension (`traceparent`)."""
    if _provider is None:
        return
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    body.update({k: v for k, v in carrier.items() if k in TRACE_FIELDS})


@contextlib.contextmanager
def span(
    name: str,
    kind: SpanKind,
    *,
    parent: Mapping[str, Any] | None = None,
    attributes: Mapping[str, str | int] | None = None,
) -> Iterator[Span | None]:
    """A span around a block; `parent` carries a remote context (message headers or an event)."""
    if _provider is None:
        yield None
        return
    ctx = propagate.extract(parent, getter=_GETTER) if parent is not None else None
    with _tracer.start_as_current_span(name, context=ctx, kind=kind, attributes=attributes) as current:
        yield current


def set_attribute(current: Span | None, key: str, value: str | int) -> None:
    if current is not None:
        current.set_attribute(key, value)


def current_trace_id() -> str | None:
    """The hex trace id of the active span, for log lines."""
    if _provider is None:
        return None
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
