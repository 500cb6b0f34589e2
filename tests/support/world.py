"""Tenants, keys and gateway accounts made straight through the admin functions, with unique names."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.gateways.registry import GatewayRegistry
from shared.persistence.admin import GatewayAccounts, create_tenant
from shared.persistence.api_keys import create_api_key
from shared.security.apikeys import Permission
from shared.security.cipher import Cipher

INTEGRATOR_SECRET = "integrator-secret-0123456789"


@dataclass
class TenantWorld:
    tenant_id: uuid.UUID
    key: str
    accounts: dict[str, uuid.UUID] = field(default_factory=dict)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def make_tenant(
    engine: AsyncEngine,
    cipher: Cipher,
    permissions: list[Permission] | None = None,
    configs: dict[str, dict[str, Any]] | None = None,
) -> TenantWorld:
    tenant_id = await create_tenant(engine, f"tenant-{uuid.uuid4().hex[:8]}")
    issued = await create_api_key(engine, tenant_id, permissions or list(Permission))
    world = TenantWorld(tenant_id, issued.secret)
    registry = GatewayRegistry.load()
    accounts = GatewayAccounts(engine, cipher, tenant_id)
    default = {"cash": {}, "integrator": {"secret": INTEGRATOR_SECRET, "name": "acme-pos"}}
    for gateway, config in (configs or default).items():
        view = await accounts.add(registry.get(gateway), config)
        world.accounts[gateway] = view.id
    return world
