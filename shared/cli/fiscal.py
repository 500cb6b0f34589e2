"""`billing fiscal resubmit`: an operator's new attempt at a Click payment's fiscal receipt."""

from __future__ import annotations

import functools
import uuid
from typing import Any

from shared.cli.main import fail
from shared.cli.rates import operator
from shared.clock import utc_now
from shared.gateways.click.fiscal import FiscalSubmissions
from shared.persistence.admin import tenant_of_transaction
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
        tenant_id = await tenant_of_transaction(engine, transaction_id)
        if tenant_id is None:
            fail(f"no transaction {transaction_id}")
        submissions = FiscalSubmissions(functools.partial(UnitOfWork, engine, cipher), engine, utc_now)
        try:
            fiscal = await submissions.resubmit(tenant_id, transaction_id, operator())
        except LookupError as exc:
            fail(str(exc))
    finally:
        await engine.dispose()
    return {"transaction_id": str(transaction_id), "fiscal": fiscal}
