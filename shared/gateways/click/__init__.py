"""Click: the SHOP API (Click calls our Prepare and Complete) and the Merchant API (status, full reversal)."""

from shared.gateways.click.adapter import ClickAdapter

ADAPTER = ClickAdapter()

__all__ = ["ADAPTER", "ClickAdapter"]
