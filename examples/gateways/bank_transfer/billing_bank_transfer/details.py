"""The typed details of a bank transfer: the payer's reference may be set; the bank reports the rest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from shared.domain.details import GatewayDetails


@dataclass(frozen=True)
class BankTransferDetails(GatewayDetails):
    gateway: ClassVar[str] = "bank_transfer"
    creator_fields: ClassVar[frozenset[str] | None] = frozenset({"payer_reference"})
    payer_reference: str | None = None
    bank_reference: str | None = None
    rejection_note: str | None = None
