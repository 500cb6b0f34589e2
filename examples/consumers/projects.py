"""Project stages fed by billing.events: a stage is paid while a transaction for it stands unrefunded."""

from __future__ import annotations

from typing import Any

from examples.consumers import (
    TRANSACTION_COMPLETED,
    TRANSACTION_PARTIALLY_REFUNDED,
    TRANSACTION_REFUNDED,
    envelope,
)

# Partially refunded money is still a payment: the stage stays paid.
_PAYING = frozenset({TRANSACTION_COMPLETED, TRANSACTION_PARTIALLY_REFUNDED})


class ProjectStages:
    """Which stages are paid, and by which transaction, from transactions whose metadata has a stage_id."""

    def __init__(self, tenant_id: str | None = None) -> None:
        self._tenant_id = tenant_id
        self._seen: set[str] = set()
        # stage id -> the transactions paying it, oldest first (a dict is an ordered set).
        self._payers: dict[str, dict[str, None]] = {}
        # `refunded` is terminal, so a completed event delivered late must not revive the payment.
        self._refunded: set[str] = set()

    def apply(self, event: dict[str, Any]) -> bool:
        """Apply one event; False (and no change) when its id was already applied."""
        head = envelope(event)
        if head.id in self._seen:
            return False
        target = _stage_of(head.data) if self._concerns(head.tenant_id) else None
        self._seen.add(head.id)
        if target is not None:
            stage_id, transaction_id = target
            if head.type in _PAYING and transaction_id not in self._refunded:
                self._payers.setdefault(stage_id, {})[transaction_id] = None
            elif head.type == TRANSACTION_REFUNDED:
                self._refunded.add(transaction_id)
                self._payers.get(stage_id, {}).pop(transaction_id, None)
        return True

    def is_paid(self, stage_id: str) -> bool:
        return bool(self._payers.get(stage_id))

    def paid_by(self, stage_id: str) -> str | None:
        """The transaction that paid the stage (the earliest still standing), or None."""
        return next(iter(self._payers.get(stage_id, {})), None)

    def paid(self) -> dict[str, str]:
        """Every paid stage with the transaction that paid it."""
        return {stage: next(iter(payers)) for stage, payers in sorted(self._payers.items()) if payers}

    def _concerns(self, tenant_id: str | None) -> bool:
        return self._tenant_id is None or tenant_id == self._tenant_id


def _stage_of(data: dict[str, Any]) -> tuple[str, str] | None:
    """(stage id, transaction id) of a stage's transaction; None when it pays no stage."""
    metadata = data.get("metadata")
    stage = metadata.get("stage_id") if isinstance(metadata, dict) else None
    if stage is None:
        return None
    # Upstream modules may keep numeric ids; a bool is never one.
    if isinstance(stage, bool) or not isinstance(stage, str | int) or stage == "":
        raise ValueError(f"data.metadata.stage_id must be a string or an integer, got {stage!r}")
    transaction_id = data.get("id")
    if not isinstance(transaction_id, str) or not transaction_id:
        raise ValueError("a stage's transaction without data.id")
    return str(stage), transaction_id


if __name__ == "__main__":
    from examples.consumers.runner import run

    stages = ProjectStages()
    run("examples.projects", stages.apply, stages.paid)
