"""Structured JSON logs on stderr, with the request's or message's ids bound and every secret masked."""

from __future__ import annotations

import contextvars
import functools
import logging
import re
import sys
from collections.abc import MutableMapping
from types import TracebackType
from typing import Any

import structlog

from shared import tracing

SECRET_KEYS = {
    "key",
    "secret",
    "secret_key",
    "api_key",
    "webhook_secret",
    "unique_key",
    "test_key",
    "merchant_key",
    "password",
    "authorization",
    "pan",
    "cvv",
    "cvc",
}
SECRET_KEY_PARTS = (
    "secret",
    "password",
    "passwd",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "signature",
    "cookie",
    "private_key",
    "card_number",
    "cardnumber",
)
REDACTED = "[redacted]"
OUR_VALUES = frozenset(
    {"timestamp", "level", "service", "trace_id", "tenant_id", "transaction_id", "refund_id", "account_id", "key_id"}
)
"""Fields this code fills with UUIDs, times and names of its own: nothing to mask, so not scanned."""

# A card number: 13-19 digits in one run, or in groups of four (or Amex's 4-6-5), not inside a longer word
# (so hex ids, trace ids and UUIDs are left alone).
_PAN = r"(?:\d{13,19}|\d{4}(?:[ -]\d{4}){3}(?:[ -]?\d{1,3})?|\d{4}[ -]\d{6}[ -]\d{5})"
_SECRET_VALUES = re.compile(
    rf"(?P<pan>(?<![0-9A-Za-z]){_PAN}(?![0-9A-Za-z]))"
    r"|(?P<apikey>\bbk_[A-Za-z0-9_-]{6,})"
    r"|(?P<stripe>\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]+)"
    r"|(?P<whsec>\bwhsec_[A-Za-z0-9+/=_-]+)"
    r"|(?P<scheme>\b(?i:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{6,}"
)


def _mask(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind == "pan":
        digits = re.sub(r"\D", "", match.group())
        return f"[card ****{digits[-4:]}]"
    if kind == "scheme":
        return f"{match.group('scheme')}{REDACTED}"
    prefix = {"apikey": "bk_", "stripe": match.group()[:3], "whsec": "whsec_"}.get(kind or "", "")
    return f"{prefix}{REDACTED}"


@functools.lru_cache(maxsize=4096)
def is_secret_key(name: str) -> bool:
    lowered = name.lower()
    return lowered in SECRET_KEYS or any(part in lowered for part in SECRET_KEY_PARTS)


def scrub(value: Any) -> Any:
    """Mask secret-looking values (card numbers, API keys, bearer tokens, Stripe secrets), recursively."""
    if isinstance(value, str):
        return _SECRET_VALUES.sub(_mask, value) if value else value
    if isinstance(value, dict):
        return {k: REDACTED if isinstance(k, str) and is_secret_key(k) else scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Runs last, after exceptions are rendered, so tracebacks are masked too."""
    for name, value in event.items():
        if name in OUR_VALUES:
            continue
        event[name] = REDACTED if is_secret_key(name) else scrub(value)
    return event


def _trace_id(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    trace_id = tracing.current_trace_id()
    if trace_id is not None:
        event.setdefault("trace_id", trace_id)
    return event


def configure(service: str, level: str = "INFO") -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _trace_id,
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            structlog.processors.JSONRenderer(),
        ],
        foreign_pre_chain=[*shared, structlog.processors.add_log_level],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiormq", "aio_pika", "uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def bind(**values: object) -> None:
    """Add ids to every later log line of the current request or message (undone when its LogContext ends)."""
    active = _ACTIVE.get()
    if active is not None:
        active.bind(**values)
    else:
        structlog.contextvars.bind_contextvars(**_present(values))


def bound(name: str) -> str | None:
    """An id bound to the current request or message (e.g. its request_id), or None."""
    value = structlog.contextvars.get_contextvars().get(name)
    return None if value is None else str(value)


def _present(values: dict[str, object]) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if v is not None}


class LogContext:
    """Ids bound to every log line inside `with LogContext(...)`; whatever was bound inside is undone at exit."""

    __slots__ = ("_outer", "_tokens", "_values")

    def __init__(self, **values: object) -> None:
        self._values = values
        self._tokens: dict[str, contextvars.Token[Any]] = {}

    def bind(self, **values: object) -> None:
        for name, token in structlog.contextvars.bind_contextvars(**_present(values)).items():
            self._tokens.setdefault(name, token)  # the first token restores what was there before

    def __enter__(self) -> LogContext:
        self._outer = _ACTIVE.set(self)
        self.bind(**self._values)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        structlog.contextvars.reset_contextvars(**self._tokens)
        _ACTIVE.reset(self._outer)


_ACTIVE: contextvars.ContextVar[LogContext | None] = contextvars.ContextVar("billing_log_context", default=None)
