"""The integrator's callback as it arrives, and the command the ingress publishes for it."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.messages import CommandMessage
from shared.storable import DETAILS_MAX_BYTES, capped, refuse_nul


class IntegratorCallback(BaseModel):
    model_config = ConfigDict(extra="ignore")

    transaction_id: uuid.UUID
    status: Literal["completed", "failed", "canceled"]
    error_code: str | int | None = None
    error_note: str | None = Field(default=None, max_length=1000)
    data: dict[str, Any] | None = None

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return refuse_nul(value)

    @field_validator("data")
    @classmethod
    def _data_size(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return value if value is None else capped(value, DETAILS_MAX_BYTES)


class IntegratorStatusMessage(CommandMessage):
    routing_key: ClassVar[str] = "gateway.integrator.status"

    account_id: uuid.UUID
    transaction_id: uuid.UUID
    status: Literal["completed", "failed", "canceled"]
    error_code: str | None = None
    error_note: str | None = None
    data: dict[str, Any] | None = None
