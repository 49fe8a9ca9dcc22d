"""Orders of an allocation as the order ledger holds them (``NEXUS_LEDGER_DATABASE_URL``, the
execution side's store): how much each symbol still has open at the Live Engine.

The embedded SQLite ledger is only read when it exists, so the console never creates one."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from nexus_assets.live_engine.ledger import OrderLedger
from nexus_assets.paths import order_ledger_path, store_location


@dataclass(frozen=True)
class SymbolOrders:
    orders: int
    open_quantity: float
    """Signed (buys positive) quantity of the orders not yet settled or filled."""
    states: tuple[str, ...]


@dataclass(frozen=True)
class LedgerOrders:
    by_symbol: dict[str, SymbolOrders]
    error: str | None = None


def allocation_orders(allocation_id: str) -> LedgerOrders:
    url = os.environ.get("NEXUS_LEDGER_DATABASE_URL") or None
    location = store_location(url, order_ledger_path())
    if isinstance(location, Path) and not location.exists():
        return LedgerOrders({})
    ledger = OrderLedger(url, os.environ.get("NEXUS_LEDGER_SCHEMA") or None)
    try:
        intents = ledger.intents(allocation_id=allocation_id)
    except Exception as exc:
        return LedgerOrders(
            {}, f"the order ledger ({ledger.description}) cannot be read ({type(exc).__name__})"
        )
    finally:
        ledger.close()
    by_symbol: dict[str, SymbolOrders] = {}
    for symbol in sorted({intent.symbol for intent in intents}):
        mine = [intent for intent in intents if intent.symbol == symbol]
        by_symbol[symbol] = SymbolOrders(
            orders=len(mine),
            open_quantity=sum(intent.signed_quantity for intent in mine if intent.is_open),
            states=tuple(sorted({intent.engine_status or intent.state for intent in mine})),
        )
    return LedgerOrders(by_symbol)
