"""The portfolio panel: the latest allocation's target weights beside the weights held when it
was computed, each divergence past ``DIVERGENCE`` marked (the figures of
``GET /v1/allocations/latest``)."""

from __future__ import annotations

from dataclasses import dataclass

from nexus_assets.allocation_record import AllocationUnreadableError
from nexus_serving.allocation_schemas import AllocationLine, AllocationResponse
from nexus_serving.console.orders import LedgerOrders, SymbolOrders, allocation_orders
from nexus_serving.stored_asset import StoredAsset, StoredAssetError

DIVERGENCE = 0.01
"""A line whose target and held weights differ by this much (one percent of equity) is marked."""


@dataclass(frozen=True)
class PortfolioLine:
    line: AllocationLine
    divergence: float
    diverges: bool
    orders: SymbolOrders | None
    """The allocation's orders on this symbol in the order ledger; None when it sent none."""


@dataclass(frozen=True)
class PortfolioView:
    allocation: AllocationResponse | None
    lines: list[PortfolioLine]
    unavailable: str | None
    """Why there is no allocation to show; None when there is one."""
    ledger_error: str | None = None


def portfolio_view(allocations: StoredAsset[AllocationResponse]) -> PortfolioView:
    try:
        latest = allocations.latest()
    except (AllocationUnreadableError, StoredAssetError) as exc:
        return PortfolioView(None, [], f"the stored allocation cannot be read: {exc}")
    if latest is None:
        return PortfolioView(
            None, [], "no allocation has been materialized yet (the portfolio_allocation asset)"
        )
    orders: LedgerOrders = allocation_orders(latest.allocation_id)
    lines = []
    for line in latest.lines:
        divergence = line.target_weight - line.current_weight
        lines.append(
            PortfolioLine(line, divergence, abs(divergence) >= DIVERGENCE, orders.by_symbol.get(line.symbol))
        )
    return PortfolioView(latest, lines, None, orders.error)
