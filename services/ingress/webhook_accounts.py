"""Webhooks name their gateway account in the URL; the account tells the tenant."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from services.ingress.context import Ingress
from shared import logs
from shared.gateways.base import GatewayAccount
from shared.persistence.repositories import account_from_row
from shared.persistence.tables import gateway_accounts


async def gateway_account(ctx: Ingress, gateway: str, account_id: uuid.UUID) -> GatewayAccount | None:
    """Webhooks name their account in the URL; the account tells the tenant."""
    query = select(gateway_accounts).where(
        gateway_accounts.c.id == account_id,
        gateway_accounts.c.gateway == gateway,
        gateway_accounts.c.deleted_at.is_(None),
    )
    async with ctx.engine.connect() as conn:
        row = (await conn.execute(query)).mappings().first()
    if row is None:
        return None
    logs.bind(tenant_id=row["tenant_id"], account_id=account_id, gateway=gateway)
    return account_from_row(row, ctx.cipher)
