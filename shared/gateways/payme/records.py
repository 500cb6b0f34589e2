"""A Payme transaction as recorded in our details, and the answers Payme gets about it.

Every time (create, perform, cancel) is written once when it happens and only read afterwards: Payme's
sandbox repeats calls and requires the very same answer each time.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain.transaction import Transaction

TIMEOUT_MS = 43_200_000  # Payme's 12 hours between its `time` and the payment
REPEAT_NAMESPACE = uuid.UUID("0f6f3c8e-4f59-4d4a-9a55-8c8a1f0e6b21")

CREATED, PERFORMED, CANCELED, CANCELED_AFTER_PERFORM = 1, 2, -1, -2
REASON_TIMEOUT, REASON_REFUND = 4, 5


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(0, UTC) + timedelta(milliseconds=ms)


def deadline(payme_time: int) -> datetime:
    """When a Payme transaction created at `payme_time` may no longer be performed."""
    return from_ms(payme_time + TIMEOUT_MS)


def repeat_id(account_id: uuid.UUID, payme_id: str) -> uuid.UUID:
    """Our id for a repeat payment, derived from Payme's id so a racing twin call collides instead of doubling."""
    return uuid.uuid5(REPEAT_NAMESPACE, f"{account_id}:{payme_id}")


def refund_id(transaction_id: uuid.UUID) -> uuid.UUID:
    """The one refund a Payme cancel after perform makes, named so it can never be made twice."""
    return uuid.uuid5(REPEAT_NAMESPACE, f"cancel-after-perform:{transaction_id}")


def state(tx: Transaction) -> int | None:
    value = tx.details.get("state")
    return value if isinstance(value, int) else None


def has_payme_transaction(tx: Transaction) -> bool:
    return isinstance(tx.details.get("payme_id"), str)


def timed_out(tx: Transaction, now_ms: int) -> bool:
    return state(tx) == CREATED and now_ms - int(tx.details.get("payme_time", now_ms)) > TIMEOUT_MS


def created(payme_id: str, payme_time: int, account: dict[str, Any], now_ms: int) -> dict[str, Any]:
    return {
        "payme_id": payme_id,
        "payme_time": payme_time,
        "create_time": now_ms,
        "state": CREATED,
        "account": account,
    }


def performed(now_ms: int) -> dict[str, Any]:
    return {"perform_time": now_ms, "state": PERFORMED}


def canceled(now_ms: int, new_state: int, reason: int) -> dict[str, Any]:
    return {"cancel_time": now_ms, "state": new_state, "reason": reason}


def _time(tx: Transaction, name: str) -> int:
    value = tx.details.get(name)
    return value if isinstance(value, int) else 0


def create_result(tx: Transaction) -> dict[str, Any]:
    return {
        "create_time": _time(tx, "create_time"),
        "transaction": str(tx.id),
        "state": state(tx),
        "receivers": tx.details.get("receivers"),
    }


def perform_result(tx: Transaction) -> dict[str, Any]:
    return {"transaction": str(tx.id), "perform_time": _time(tx, "perform_time"), "state": state(tx)}


def cancel_result(tx: Transaction) -> dict[str, Any]:
    return {"transaction": str(tx.id), "cancel_time": _time(tx, "cancel_time"), "state": state(tx)}


def check_result(tx: Transaction) -> dict[str, Any]:
    return {
        "create_time": _time(tx, "create_time"),
        "perform_time": _time(tx, "perform_time"),
        "cancel_time": _time(tx, "cancel_time"),
        "transaction": str(tx.id),
        "state": state(tx),
        "reason": tx.details.get("reason"),
    }


def statement_entry(tx: Transaction) -> dict[str, Any]:
    return {
        "id": tx.details.get("payme_id"),
        "time": _time(tx, "payme_time"),
        "amount": tx.amount,  # tiyin: UZS minor units, which is what we store
        "account": tx.details.get("account"),
        **check_result(tx),  # the times, our id, the state and the reason, as CheckTransaction gives them
        "receivers": tx.details.get("receivers"),
    }


DETAIL_ITEM_FIELDS = ("discount", "title", "price", "count", "code", "units", "vat_percent", "package_code")


def check_perform_result(order: Transaction) -> dict[str, Any]:
    """CheckPerformTransaction's answer: `allow`, with the fiscal receipt's `detail` when the order has one."""
    receipt = order.details.get("receipt")
    if not isinstance(receipt, dict):
        return {"allow": True}
    detail: dict[str, Any] = {"receipt_type": receipt.get("receipt_type", 0)}
    shipping = receipt.get("shipping")
    if isinstance(shipping, dict):
        detail["shipping"] = {"title": shipping["title"], "price": shipping["price"]}
    detail["items"] = [
        {name: item[name] for name in DETAIL_ITEM_FIELDS if item.get(name) is not None} for item in receipt["items"]
    ]
    return {"allow": True, "detail": detail}
