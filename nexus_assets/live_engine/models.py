"""What travels to and from the Live Engine, as frozen values.

Requests check their own invariants when built, so a bad order fails in our process, naming
the field, before anything reaches the engine; results are built only by ``parse``, which
checks every field the engine sent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit"]
OrderStatus = Literal["pending", "filled", "cancelled", "rejected", "failed"]
DeploymentMode = Literal["paper", "live"]

SIDES: frozenset[str] = frozenset(get_args(Side))
ORDER_TYPES: frozenset[str] = frozenset(get_args(OrderType))
ORDER_STATUSES: frozenset[str] = frozenset(get_args(OrderStatus))
DEPLOYMENT_MODES: frozenset[str] = frozenset(get_args(DeploymentMode))
FINAL_STATUSES: frozenset[str] = frozenset({"filled", "cancelled", "rejected", "failed"})
ENDED_DEPLOYMENT_STATUSES: frozenset[str] = frozenset({"stopping", "stopped", "failed"})
"""A deployment in one of these takes no new orders of ours."""


def _require_text(value: object, field: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field}: must be a non-empty string, got {value!r}")


def _require_positive(value: object, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{field}: must be a finite number, got {value!r}")
    if value <= 0:
        raise ValueError(f"{field}: must be greater than 0, got {value!r}")


@dataclass(frozen=True)
class OrderRequest:
    """One order to place. ``client_key`` is our ledger's key for it: sent as the engine's
    ``idempotencyKey``, which the real engine accepts and ignores (exactly-once is the ledger's
    job, ``ledger.OrderLedger``), so an engine that honours keys gets one for free."""

    symbol: str
    side: Side
    quantity: float
    deployment_id: str
    client_key: str
    type: OrderType = "market"
    price: float | None = None
    """Limit price; ``None`` for market orders, which fill at the next bar's open."""

    def __post_init__(self) -> None:
        _require_text(self.symbol, "symbol")
        _require_text(self.deployment_id, "deployment_id")
        _require_text(self.client_key, "client_key")
        if self.side not in SIDES:
            raise ValueError(f"side: must be 'buy' or 'sell', got {self.side!r}")
        if self.type not in ORDER_TYPES:
            raise ValueError(f"type: must be 'market' or 'limit', got {self.type!r}")
        _require_positive(self.quantity, "quantity")
        if self.type == "limit" and self.price is None:
            raise ValueError("price: a limit order needs a price")
        if self.price is not None:
            _require_positive(self.price, "price")

    @property
    def signed_quantity(self) -> float:
        return self.quantity if self.side == "buy" else -self.quantity

    def to_json(self) -> dict[str, Any]:
        """The request body of ``POST /api/internal/orders``."""
        return {
            "symbol": self.symbol,
            "side": self.side,
            "type": self.type,
            "quantity": float(self.quantity),
            "price": None if self.price is None else float(self.price),
            "deploymentId": self.deployment_id,
            "idempotencyKey": self.client_key,
        }


@dataclass(frozen=True)
class Order:
    id: str
    status: OrderStatus
    symbol: str
    side: Side
    type: OrderType
    quantity: float
    price: float | None
    filled_quantity: float | None
    """None where the engine does not report fills (the real engine's order has no such field)."""
    filled_price: float | None
    deployment_id: str | None
    idempotency_key: str | None
    """The real engine accepts a key and ignores it: its answers carry none."""
    created_at: datetime
    updated_at: datetime | None
    provider_order_id: str | None = None
    """The broker's reference; the engine finds an order by it as by ``id``."""

    @property
    def is_final(self) -> bool:
        """True once the order can no longer fill or be cancelled."""
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class Position:
    symbol: str
    quantity: float
    """Signed: negative is short."""
    avg_price: float
    current_price: float
    unrealized_pnl: float


@dataclass(frozen=True)
class Portfolio:
    """An account of the engine's, found by its own id (``portfolio-paper-001``), not a deployment's."""

    id: str
    mode: DeploymentMode
    cash: float
    total_value: float
    """Cash plus positions at their current prices: the equity allocations are sized on."""
    pnl_total: float | None
    positions: Mapping[str, Position]
    """By symbol; symbols with no position are absent."""

    @property
    def quantities(self) -> dict[str, float]:
        return {symbol: position.quantity for symbol, position in self.positions.items()}


@dataclass(frozen=True)
class Deployment:
    id: str
    strategy_id: str
    mode: DeploymentMode
    capital: float
    status: str
    """Whatever the engine reports (queued, running, paused, stopping, stopped, failed); not an
    enum we rely on."""
    created_at: datetime
    provider_ref_id: str | None = None
    latest_pnl: float | None = None
    updated_at: datetime | None = None
