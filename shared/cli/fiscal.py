"""`billing fiscal resubmit`: an operator's new attempt at a paid payment's fiscal receipt."""

from __future__ import annotations

import functools
import uuid
from typing import Any

from shared.cli.main import fail
from shared.cli.rates import operator
from shared.clock import utc_now
from shared.gateways.registry import GatewayRegistry
from shared.persistence.admin import owner_of_transaction
from shared.persistence.database import create_engine
from shared.persistence.unit_of_work import UnitOfWork
from shared.security.cipher import Cipher
from shared.settings import ConfigurationError, Settings, secret_key


async def resubmit(config: Settings, transaction_id: uuid.UUID) -> dict[str, Any]:
    try:
        cipher = Cipher(secret_key(config))
    except ConfigurationError as exc:
        fail(str(exc))
    engine = create_engine(config.database_url, pool_size=2)
    try:
        owner = await owner_of_transaction(engine, transaction_id)
        if owner is None:
            fail(f"no transaction {transaction_id}")
        tenant_id, gateway = owner
        fiscal = GatewayRegistry.load().manifest(gateway).fiscal
        if fiscal is None:
            fail(f"the service submits no fiscal receipts for {gateway} payments (the gateway registers them)")
        submissions = fiscal()(functools.partial(UnitOfWork, engine, cipher), engine, utc_now)
        try:
            outcome = await submissions.resubmit(tenant_id, transaction_id, operator())
        except LookupError as exc:
            fail(str(exc))
    finally:
        await engine.dispose()
    return {"transaction_id": str(transaction_id), "fiscal": outcome}
