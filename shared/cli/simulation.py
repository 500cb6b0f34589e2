"""What a gateway simulator gets: the service's address, the account, and a way to open orders to pay."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any

from shared.broker.publisher import ConfirmedPublisher
from shared.gateways.base import GatewayAccount
from shared.messages import COMMANDS_EXCHANGE, CreateTransactionMessage
from shared.persistence.admin import live_account, transaction_exists
from shared.persistence.database import create_engine
from shared.security.cipher import Cipher
from shared.settings import Settings


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class Simulation:
    base_url: str
    account: GatewayAccount
    settings: Settings

    async def open_order(self, amount: int, currency: str = "UZS", details: dict[str, Any] | None = None) -> str:
        """A pending transaction on this account, created like an upstream module would (a broker command)."""
        transaction_id = uuid.uuid4()
        message = CreateTransactionMessage(
            command_id=f"simulate:{transaction_id}",
            tenant_id=self.account.tenant_id,
            actor="simulator",
            transaction_id=transaction_id,
            gateway=self.account.gateway,
            account_id=self.account.id,
            amount=amount,
            currency=currency,
            details=details or {},
            metadata={"simulation": True},
        )
        publisher = ConfirmedPublisher(self.settings.amqp_url)
        await publisher.start()
        try:
            body = json.dumps(message.model_dump(mode="json")).encode()
            await publisher.publish(COMMANDS_EXCHANGE, message.routing_key, body, message_id=message.command_id)
        finally:
            await publisher.close()
        engine = create_engine(self.settings.database_url, pool_size=1)
        try:
            for _ in range(100):
                if await transaction_exists(engine, transaction_id):
                    return str(transaction_id)
                await asyncio.sleep(0.1)
        finally:
            await engine.dispose()
        raise TimeoutError("the processor did not create the order within 10 s: is `billing up` running?")


async def load_account(settings: Settings, cipher: Cipher, account_id: uuid.UUID) -> GatewayAccount | None:
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        return await live_account(engine, cipher, account_id)
    finally:
        await engine.dispose()


def table(checks: list[Check]) -> str:
    width = max((len(c.name) for c in checks), default=10)
    lines = [f"{'check':<{width}}  result  detail", f"{'-' * width}  ------  ------"]
    lines += [f"{c.name:<{width}}  {'pass' if c.ok else 'FAIL':<6}  {c.detail}" for c in checks]
    lines.append(f"{sum(c.ok for c in checks)}/{len(checks)} checks pass")
    return "\n".join(lines)
