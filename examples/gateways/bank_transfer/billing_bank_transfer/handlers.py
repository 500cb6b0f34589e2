"""The processor side: a verified callback completes or fails its payment, in one unit of work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from billing_bank_transfer.adapter import NAME
from billing_bank_transfer.callback import OPERATION, CallbackAnswer, TransferCallback, refused
from shared.broker.rpc import GatewayCall
from shared.clock import Clock
from shared.domain.status import TransactionStatus
from shared.gateways.processing import GatewayWiring, ProcessorDeps
from shared.persistence.port import UnitOfWorkPort


def wire(deps: ProcessorDeps) -> GatewayWiring:
    return GatewayWiring(gateway=NAME, calls=BankCallbacks(deps.uow, deps.clock).answer)


class BankCallbacks:
    def __init__(self, uow: Callable[[], UnitOfWorkPort], clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def answer(self, call: GatewayCall) -> dict[str, Any]:
        if call.operation != OPERATION:
            raise ValueError(f"unknown bank transfer operation {call.operation!r}")
        callback = TransferCallback.model_validate(call.params)
        return (await self.apply(call, callback)).model_dump()

    async def apply(self, call: GatewayCall, callback: TransferCallback) -> CallbackAnswer:
        """Keep the raw callback; move the payment it names, once (a repeat finds it moved and is accepted)."""
        request_id = f"{NAME}:{callback.bank_reference}:{callback.status}"
        async with self._uow() as uow:
            uow.log_webhook(
                tenant_id=call.tenant_id,
                account_id=call.account_id,
                gateway=NAME,
                message_id=request_id,
                payload=callback.model_dump(mode="json"),
            )
            tx = await uow.transactions(call.tenant_id).get(callback.transaction_id)
            answer = CallbackAnswer()
            if tx is None or tx.account_id != call.account_id or tx.gateway != NAME:
                answer = refused(404, "unknown_transaction")
            elif tx.details.get("bank_reference") == callback.bank_reference:
                pass  # the bank sent it again: already applied
            elif tx.status is not TransactionStatus.PENDING:
                answer = refused(409, f"transaction_{tx.status.value}")
            elif (callback.amount, callback.currency.upper()) != (tx.amount, tx.currency):
                answer = refused(422, "amount_mismatch")  # a partial or foreign transfer is settled by a person
            elif callback.status == "credited":
                tx.complete(self._clock(), {"bank_reference": callback.bank_reference})
            else:
                facts = {"bank_reference": callback.bank_reference, "rejection_note": callback.note}
                tx.fail(self._clock(), facts)
            await uow.commit(actor=f"gateway:{NAME}:{call.account_id}", request_id=request_id)
            return answer
