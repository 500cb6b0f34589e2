"""Cash: a manual gateway; an operator completes the payment, refunds are paid out by hand."""

from __future__ import annotations

from shared.gateways.base import AccountConfig
from shared.gateways.manual import ManualGateway


class CashConfig(AccountConfig):
    pass


class CashAdapter(ManualGateway):
    name = "cash"
    config_model: type[AccountConfig] = CashConfig
