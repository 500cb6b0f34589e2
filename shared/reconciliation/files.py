"""Settlement files: CSV, one row per payment, read with the column mapping its gateway declares."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from shared.domain.money import Money
from shared.domain.reconciliation import ProviderRecord
from shared.domain.status import TransactionStatus as S

OUR_STATUSES = {status.value: status for status in S} | {"paid": S.COMPLETED, "succeeded": S.COMPLETED}


class BadSettlementFile(ValueError):
    """The file does not have the columns or values its gateway's mapping needs (row and column named)."""


@dataclass(frozen=True)
class ColumnMapping:
    """Which header holds what, the unit of the amount, and the gateway's status words in ours."""

    reference: str
    merchant_reference: str
    amount: str
    status: str
    amount_in_major_units: bool = False
    currency: str | None = None
    refunded_amount: str | None = None
    statuses: dict[str, S] = field(default_factory=lambda: dict(OUR_STATUSES))


GENERIC = ColumnMapping(
    reference="gateway_id",
    merchant_reference="reference",
    amount="amount",
    status="status",
    currency="currency",
    refunded_amount="refunded_amount",
)


@dataclass(frozen=True)
class SettlementFile:
    """How a gateway's settlement file reads: its columns, and the currency when no column names one."""

    columns: ColumnMapping
    currency: str = ""


GENERIC_FILE = SettlementFile(GENERIC)
"""For gateways that declare no file of their own."""


def read_rows(lines: Iterable[str], mapping: ColumnMapping, currency: str) -> Iterator[ProviderRecord]:
    """Parse rows lazily (a registry can be large); the first bad row stops the run with its line number."""
    reader = csv.DictReader(lines)
    needed = {mapping.reference, mapping.merchant_reference, mapping.amount, mapping.status}
    missing = sorted(needed - set(reader.fieldnames or ()))
    if missing:
        raise BadSettlementFile(f"missing column(s): {', '.join(missing)}")
    for number, row in enumerate(reader, start=2):
        try:
            yield _record(row, mapping, currency)
        except (ValueError, InvalidOperation, KeyError) as exc:
            raise BadSettlementFile(f"line {number}: {exc}") from None


def _record(row: dict[str, str], mapping: ColumnMapping, default_currency: str) -> ProviderRecord:
    code = ((row.get(mapping.currency) or "").strip() if mapping.currency else "") or default_currency
    if not code:
        raise ValueError(f"no currency in column {mapping.currency}")
    raw_amount = row[mapping.amount].strip()
    amount = Money.from_major(Decimal(raw_amount), code).minor if mapping.amount_in_major_units else int(raw_amount)
    word = row[mapping.status].strip().lower()
    if word not in mapping.statuses:
        raise ValueError(f"unknown status {word!r} in column {mapping.status}")
    refunded_text = (row.get(mapping.refunded_amount) or "").strip() if mapping.refunded_amount else ""
    merchant_reference = row[mapping.merchant_reference].strip() or None
    return ProviderRecord(
        reference=row[mapping.reference].strip() or None,
        transaction_id=_uuid_or_none(merchant_reference),
        amount=amount,
        refunded_amount=int(refunded_text) if refunded_text else None,
        currency=code,
        status=mapping.statuses[word],
        merchant_reference=merchant_reference,
    )


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


async def records_from_bytes(body: bytes, settlement: SettlementFile) -> AsyncIterator[ProviderRecord]:
    """Rows of an uploaded file, parsed one at a time."""
    try:
        text = io.TextIOWrapper(io.BytesIO(body), encoding="utf-8-sig", newline="")
        for record in read_rows(text, settlement.columns, settlement.currency):
            yield record
    except UnicodeDecodeError:
        raise BadSettlementFile("the file is not UTF-8 text") from None
