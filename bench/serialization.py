"""What JSON costs on the wire paths, in this process: today's way beside the cheaper ones (orjson when installed).

Measures, best of five repeats, one list page of 50 transactions as FastAPI serialises a returned dict (the
routes' `dict[str, Any]` return annotation: pydantic validate + dump_json), as `jsonable_encoder` would, and as
orjson would; and a `transaction.create` command as the ingress encodes it and the processor decodes it. Each
cost is set beside the services' CPU per cash payment (14 ms on 2026-12-02) to say whether it could pay.

    python bench/serialization.py
"""

from __future__ import annotations

import json
import timeit
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi.encoders import jsonable_encoder
from pydantic import TypeAdapter

from shared.messages import CreateTransactionMessage

SERVICE_CPU_PER_PAYMENT_MS = 14.0
COMMANDS_PER_PAYMENT = 2  # create and complete, each encoded once and decoded once


def best_us(work: Callable[[], object], number: int = 2000) -> float:
    """Microseconds per call, best of five repeats (the least disturbed by the rest of the machine)."""
    return min(timeit.repeat(work, number=number, repeat=5)) / number * 1e6


def transaction() -> dict[str, Any]:
    moment = "2026-12-03T08:00:00.123456Z"
    return {
        "id": str(uuid.uuid4()),
        "tenant_id": str(uuid.uuid4()),
        "account_id": str(uuid.uuid4()),
        "gateway": "cash",
        "status": "completed",
        "amount": 150000,
        "refunded_amount": 0,
        "currency": "UZS",
        "reporting": None,
        "details": {},
        "metadata": {"project_id": "p-1"},
        "payment_url": None,
        "created_at": moment,
        "updated_at": moment,
    }


def cases() -> dict[str, Callable[[], object]]:
    page = {"items": [transaction() for _ in range(50)], "next_cursor": "A" * 44}
    adapter = TypeAdapter(dict[str, Any])
    message = CreateTransactionMessage(
        command_id="create:x",
        tenant_id=uuid.uuid4(),
        actor="key:bench",
        transaction_id=uuid.uuid4(),
        gateway="cash",
        account_id=uuid.uuid4(),
        amount=150000,
        currency="UZS",
        details={},
        metadata={"project_id": "p-1"},
        requested_at=datetime.now(UTC),
    )
    body = json.dumps(message.model_dump(mode="json")).encode()
    found: dict[str, Callable[[], object]] = {
        "page of 50: FastAPI today (pydantic validate + dump_json)": lambda: adapter.dump_json(
            adapter.validate_python(page)
        ),
        "page of 50: jsonable_encoder + json.dumps (no return annotation)": lambda: json.dumps(
            jsonable_encoder(page)
        ).encode(),
        "page of 50: json.dumps (a JSONResponse)": lambda: json.dumps(page).encode(),
        "command out: json.dumps(model_dump(mode='json')) (today)": lambda: json.dumps(
            message.model_dump(mode="json")
        ).encode(),
        "command out: model_dump_json()": lambda: message.model_dump_json().encode(),
        "command in: model_validate(json.loads(body)) (today)": lambda: CreateTransactionMessage.model_validate(
            json.loads(body)
        ),
        "command in: model_validate_json(body)": lambda: CreateTransactionMessage.model_validate_json(body),
    }
    try:
        import orjson
    except ImportError:
        return found
    found["page of 50: orjson.dumps"] = lambda: orjson.dumps(page)
    found["command out: orjson.dumps(model_dump(mode='json'))"] = lambda: orjson.dumps(message.model_dump(mode="json"))
    found["command in: model_validate(orjson.loads(body))"] = lambda: CreateTransactionMessage.model_validate(
        orjson.loads(body)
    )
    return found


def main() -> None:
    measured = {name: best_us(work) for name, work in cases().items()}
    for name, micros in measured.items():
        print(f"{name:66s} {micros:9.1f} us")
    today = (
        measured["command out: json.dumps(model_dump(mode='json')) (today)"]
        + measured["command in: model_validate(json.loads(body)) (today)"]
    )
    cheapest = min(v for k, v in measured.items() if k.startswith("command out")) + min(
        v for k, v in measured.items() if k.startswith("command in")
    )
    saved_ms = (today - cheapest) * COMMANDS_PER_PAYMENT / 1000
    print(
        f"\ncommands of one cash payment: {saved_ms:.3f} ms of CPU saved at best, "
        f"{saved_ms / SERVICE_CPU_PER_PAYMENT_MS:.1%} of the services' {SERVICE_CPU_PER_PAYMENT_MS:.0f} ms per payment"
    )


if __name__ == "__main__":
    main()
