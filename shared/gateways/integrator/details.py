"""The details of an integrator's payment: the creator's free-form data and the integrator's error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from shared.domain.details import GatewayDetails


@dataclass(frozen=True)
class IntegratorDetails(GatewayDetails):
    gateway: ClassVar[str] = "integrator"
    open_ended: ClassVar[bool] = True
    creator_fields: ClassVar[frozenset[str] | None] = frozenset({"data"})
    data: dict[str, Any] = field(default_factory=dict)
    error_code: str | None = None
    error_note: str | None = None
