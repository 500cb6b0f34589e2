"""The JSON log pipeline masks secrets by key and by value, tracebacks included, and binds ids per context."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from shared import logs

PANS = ("4111111111111111", "4111 1111 1111 1111", "5500-0000-0000-0004", "3782 822463 10005", "6011000990139424")
API_KEY = f"bk_{uuid.uuid4().hex}_Zm9vYmFyYmF6cXV4cXV1eF9zZWNyZXRfa2V5"
STRIPE_SECRET = "sk_test_51HXabcDEFghiJKLmnoPQRstuVWXyz0123456789"
WEBHOOK_SECRET = "whsec_Xy9Zq8Wp7Vo6Un5Tm4Sl3Rk2Qj1Pi0Oh"
BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"
BASIC = "Basic UGF5Y29tOnNlY3JldC1tZXJjaGFudC1rZXk="


class Captured:
    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self._stream.getvalue().splitlines() if line.strip()]

    def text(self) -> str:
        return self._stream.getvalue()


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[Captured]:
    """The real `configure` pipeline writing to a buffer; the root logger and structlog are restored after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    logs.configure("test")
    try:
        yield Captured(stream)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()


def test_secret_keys_are_redacted_at_any_depth(captured: Captured) -> None:
    logging.getLogger("t").info(
        "account",
        extra={
            "api_key": "plain-api-key-value",
            "Authorization": "whatever-it-is",
            "config": {"merchant_id": "m-1", "secret_key": "click-secret", "nested": [{"password": "hunter2"}]},
            "client_secret": "cs_live_abc",
        },
    )
    (line,) = captured.lines()
    assert line["api_key"] == "[redacted]" and line["Authorization"] == "[redacted]"
    assert line["client_secret"] == "[redacted]"
    assert line["config"]["merchant_id"] == "m-1"
    assert line["config"]["secret_key"] == "[redacted]"
    assert line["config"]["nested"][0]["password"] == "[redacted]"
    for secret in ("plain-api-key-value", "click-secret", "hunter2", "cs_live_abc"):
        assert secret not in captured.text()


@pytest.mark.parametrize("pan", PANS)
def test_card_numbers_are_masked_to_their_last_four_digits(captured: Captured, pan: str) -> None:
    logging.getLogger("t").warning("refused: card %s declined", pan, extra={"note": f"pan={pan};"})
    (line,) = captured.lines()
    digits = pan.replace(" ", "").replace("-", "")
    assert pan not in captured.text() and digits not in captured.text()
    assert line["event"] == f"refused: card [card ****{digits[-4:]}] declined"
    assert line["note"] == f"pan=[card ****{digits[-4:]}];"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (API_KEY, "bk_[redacted]"),
        (STRIPE_SECRET, "sk_[redacted]"),
        (WEBHOOK_SECRET, "whsec_[redacted]"),
        (BEARER, "Bearer [redacted]"),
        (BASIC, "Basic [redacted]"),
    ],
)
def test_keys_and_tokens_are_masked_inside_any_text(captured: Captured, value: str, shown: str) -> None:
    structlog.get_logger("t").info("call failed", error=f"upstream said: {value} is not valid")
    (line,) = captured.lines()
    assert line["error"] == f"upstream said: {shown} is not valid"
    assert value not in captured.text()


def test_ids_amounts_and_times_are_left_alone(captured: Captured) -> None:
    untouched = {
        "transaction_id": "550e8400-e29b-41d4-a716-446655440000",
        "digits_uuid": "12345678-1234-8234-1234-123456789012",
        "trace_id": "4bf92f3577b34da61234567890123456",
        "at": "2026-01-31T12:00:00.123456Z",
        "phone": "+998 90 123 45 67",
        "idempotency_key": "order-1001",
    }
    logging.getLogger("t").info("ok", extra={**untouched, "amount": 1_500_000, "time_ms": 1700000000000})
    (line,) = captured.lines()
    for name, value in untouched.items():
        assert line[name] == value
    assert line["amount"] == 1_500_000 and line["time_ms"] == 1700000000000


def test_tracebacks_are_masked_too(captured: Captured) -> None:
    try:
        raise RuntimeError(f"provider rejected card 4242424242424242 with key {STRIPE_SECRET}")
    except RuntimeError:
        logging.getLogger("t").exception("provider call failed")
    (line,) = captured.lines()
    assert "RuntimeError" in line["exception"]
    assert "[card ****4242]" in line["exception"] and "sk_[redacted]" in line["exception"]
    assert "4242424242424242" not in captured.text() and STRIPE_SECRET not in captured.text()


def test_log_context_binds_ids_and_undoes_everything_bound_inside(captured: Captured) -> None:
    log = logging.getLogger("t")
    with logs.LogContext(message_id="m-1", routing_key="transaction.create") as context:
        context.bind(tenant_id=uuid.UUID(int=1), transaction_id=None)
        logs.bind(account_id="a-1")
        log.info("inside")
    log.info("outside")
    inside, outside = captured.lines()
    assert inside["message_id"] == "m-1" and inside["tenant_id"] == str(uuid.UUID(int=1))
    assert inside["account_id"] == "a-1" and "transaction_id" not in inside
    assert inside["service"] == "test" and outside["service"] == "test"
    assert not {"message_id", "tenant_id", "account_id", "routing_key"} & set(outside)
