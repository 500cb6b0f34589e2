"""The details of a cash payment: whatever the operator records, kept as given."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from shared.domain.details import GatewayDetails


@dataclass(frozen=True)
class CashDetails(GatewayDetails):
    gateway: ClassVar[str] = "cash"
    open_ended: ClassVar[bool] = True
    data: dict[str, Any] = field(default_factory=dict)
