"""Request bodies of the command API."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, field_validator

from shared.security.apikeys import Permission
from shared.security.pan import mask_pans
from shared.storable import DETAILS_MAX_BYTES, METADATA_MAX_BYTES, capped, refuse_nul


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return refuse_nul(value)


class CreateTransactionBody(Body):
    gateway: str = Field(min_length=1, max_length=64)
    account_id: uuid.UUID | None = None
    amount: StrictInt = Field(gt=0, le=9_000_000_000_000_000_000)
    currency: str = Field(min_length=3, max_length=3)
    details: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None

    @field_validator("details")
    @classmethod
    def _details_size(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return value if value is None else masked(capped(value, DETAILS_MAX_BYTES))

    @field_validator("metadata")
    @classmethod
    def _metadata_size(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return value if value is None else masked(capped(value, METADATA_MAX_BYTES))


def masked(document: dict[str, Any]) -> dict[str, Any]:
    """The document with card numbers masked: the answer, the idempotency record and the command agree."""
    result: dict[str, Any] = mask_pans(document)
    return result


class CompleteBody(Body):
    amount: StrictInt | None = Field(default=None, gt=0)  # capture less than was authorised (two-stage capture)


class CancelBody(Body):
    reason: str | None = Field(default=None, max_length=500)


class RefundBody(Body):
    amount: StrictInt | None = Field(default=None, gt=0)
    reason: str | None = Field(default=None, max_length=500)


class DetailFilter(Body):
    path: list[str | int] = Field(min_length=1, max_length=10)
    op: Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "between", "exists"]
    value: Any = None


class SearchBody(Body):
    gateway: str = Field(min_length=1, max_length=64)
    filters: list[DetailFilter] = Field(default_factory=list, max_length=20)
    limit: int = Field(default=100, ge=1, le=500)


class AccountBody(Body):
    gateway: str = Field(min_length=1, max_length=64)
    config: dict[str, Any] = Field(default_factory=dict)


class AccountPatch(Body):
    config: dict[str, Any]


class WebhookEndpointBody(Body):
    url: str = Field(min_length=1, max_length=2048)
    events: list[str] = Field(min_length=1, max_length=50)
    description: str | None = Field(default=None, max_length=500)


class WebhookEndpointPatch(Body):
    url: str | None = Field(default=None, min_length=1, max_length=2048)
    events: list[str] | None = Field(default=None, min_length=1, max_length=50)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None


class ApiKeyBody(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    permissions: list[Permission] = Field(min_length=1, max_length=len(Permission))
    expires_at: AwareDatetime | None = None
