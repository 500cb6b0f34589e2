"""The integrator's processor side: a verified status callback moves its transaction, in one unit of work."""

from __future__ import annotations

from collections.abc import Callable

from shared.broker.consumer import dispatch_table
from shared.clock import Clock
from shared.domain.errors import NotFound
from shared.gateways.integrator.messages import IntegratorStatusMessage
from shared.gateways.processing import GatewayWiring, ProcessorDeps
from shared.persistence.port import UnitOfWorkPort

GATEWAY = "integrator"
CONSUMER = "processor"


def wire(deps: ProcessorDeps) -> GatewayWiring:
    statuses = IntegratorStatuses(deps.uow, deps.clock)
    return GatewayWiring(gateway=GATEWAY, commands=dispatch_table((IntegratorStatusMessage, statuses.record)))


class IntegratorStatuses:
    def __init__(self, uow: Callable[[], UnitOfWorkPort], clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def record(self, callback: IntegratorStatusMessage) -> None:
        """Keep the raw callback, then complete, fail or cancel the payment it names."""
        async with self._uow() as uow:
            if not await uow.claim(CONSUMER, callback.command_id):
                return
            uow.log_webhook(
                tenant_id=callback.tenant_id,
                account_id=callback.account_id,
                gateway=GATEWAY,
                message_id=callback.command_id,
                payload={
                    "transaction_id": str(callback.transaction_id),
                    "status": callback.status,
                    "data": callback.data,
                    "error_code": callback.error_code,
                    "error_note": callback.error_note,
                },
            )
            tx = await uow.transactions(callback.tenant_id).get(callback.transaction_id)
            if tx is None:
                raise NotFound(f"transaction {callback.transaction_id} not found")
            if tx.account_id != callback.account_id or tx.gateway != GATEWAY:
                raise NotFound(f"transaction {callback.transaction_id} does not belong to this integrator account")
            extra: dict[str, object] = {}
            if callback.data:
                extra["data"] = {**tx.details.get("data", {}), **callback.data}
            now = self._clock()
            match callback.status:
                case "completed":
                    tx.complete(now, extra)
                case "failed":
                    tx.fail(now, {**extra, "error_code": callback.error_code, "error_note": callback.error_note})
                case "canceled":
                    tx.cancel(now, details=extra)
            await uow.commit(actor=f"gateway:integrator:{callback.account_id}", request_id=callback.command_id)
