"""What the Live Engine stand-in stores: orders, deployments, portfolios, and its refusals.

Records render themselves in the real engine's layouts (``to_json``: the execution contract's
``OrderContract``, ``DeploymentContract`` and ``PortfolioContract``); the world owns the rules
that change them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nexus_assets.lona.wire import format_time

_DUST = 1e-9
"""A position smaller than this after a fill is floating-point residue of a close: dropped."""


class EngineError(Exception):
    """A request the stand-in refuses, with the HTTP status the API answers."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def engine_time(when: datetime) -> str:
    """The engine's timestamps: ISO 8601 to the second, ``Z`` for UTC (``nowIso``)."""
    return format_time(when.replace(microsecond=0))


@dataclass(frozen=True)
class OrderSpec:
    """An order as requested; the engine keeps no idempotency key."""

    symbol: str
    side: str
    type: str
    quantity: float
    price: float | None
    deployment_id: str | None


@dataclass
class OrderRecord:
    id: str
    spec: OrderSpec
    placed_bar: int
    created_at: datetime
    status: str = "pending"
    fill_price: float | None = None
    """Kept for the stand-in's own views (``/_sim/orders``); the engine's order has no fill fields."""

    @property
    def provider_order_id(self) -> str:
        return f"live-order-{self.id}"

    def to_json(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "id": self.id,
            "providerOrderId": self.provider_order_id,
            "symbol": spec.symbol,
            "side": spec.side,
            "type": spec.type,
            "quantity": spec.quantity,
            "price": spec.price,
            "status": self.status,
            "deploymentId": spec.deployment_id,
            "createdAt": engine_time(self.created_at),
        }


@dataclass(frozen=True)
class DeploymentSpec:
    strategy_id: str
    mode: str
    capital: float


@dataclass
class DeploymentRecord:
    id: str
    spec: DeploymentSpec
    created_at: datetime
    updated_at: datetime
    status: str = "queued"
    """The real store creates deployments ``queued`` and only a stop moves them (to ``stopping``)."""

    def stop(self, when: datetime) -> None:
        if self.status not in ("stopped", "failed"):
            self.status = "stopping"
        self.updated_at = when

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "strategyId": self.spec.strategy_id,
            "mode": self.spec.mode,
            "status": self.status,
            "capital": self.spec.capital,
            "providerRefId": f"live-{self.id}",
            "latestPnl": None,
            "createdAt": engine_time(self.created_at),
            "updatedAt": engine_time(self.updated_at),
        }


@dataclass
class Holding:
    quantity: float
    avg_price: float


@dataclass
class PortfolioRecord:
    """A margin account without limits (cash may go negative, positions short): the stand-in
    tests order flow, not risk checks. ``avgPrice`` is the average cost of the open position."""

    id: str
    mode: str
    initial_cash: float
    cash: float
    holdings: dict[str, Holding] = field(default_factory=dict)

    def fill(self, side: str, symbol: str, quantity: float, price: float) -> None:
        signed = quantity if side == "buy" else -quantity
        held = self.holdings.get(symbol)
        before = held.quantity if held is not None else 0.0
        after = before + signed
        if abs(after) < _DUST:
            self.holdings.pop(symbol, None)
        elif held is None or before * after < 0:
            self.holdings[symbol] = Holding(after, price)  # opened, or flipped through zero
        elif abs(after) > abs(before):
            held.avg_price = (held.avg_price * before + price * signed) / after
            held.quantity = after
        else:
            held.quantity = after  # reduced: the average cost of what is left is unchanged
        self.cash -= signed * price

    def total_value(self, closes: Mapping[str, float]) -> float:
        return self.cash + sum(h.quantity * closes[s] for s, h in self.holdings.items())

    def to_json(self, closes: Mapping[str, float]) -> dict[str, Any]:
        total = self.total_value(closes)
        return {
            "id": self.id,
            "mode": self.mode,
            "cash": self.cash,
            "totalValue": total,
            "pnlTotal": total - self.initial_cash,
            "positions": [
                {
                    "symbol": symbol,
                    "quantity": held.quantity,
                    "avgPrice": held.avg_price,
                    "currentPrice": closes[symbol],
                    "unrealizedPnl": (closes[symbol] - held.avg_price) * held.quantity,
                }
                for symbol, held in sorted(self.holdings.items())
            ],
        }
