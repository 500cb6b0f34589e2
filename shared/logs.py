"""Structured JSON logs on stderr."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

SECRET_KEYS = {
    "key",
    "secret",
    "secret_key",
    "api_key",
    "webhook_secret",
    "unique_key",
    "password",
    "authorization",
}


def _redact(_: object, __: str, event: dict[str, object]) -> dict[str, object]:
    for name in list(event):
        if name.lower() in SECRET_KEYS:
            event[name] = "[redacted]"
    return event


def configure(service: str, level: str = "INFO") -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        foreign_pre_chain=[*shared, structlog.processors.add_log_level],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiormq", "aio_pika", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
