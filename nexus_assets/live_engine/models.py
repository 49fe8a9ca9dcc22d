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
    """One order to place; ``idempotency_key`` makes placing it twice place it once."""

    symbol: str
    side: Side
    quantity: float
    deployment_id: str
    idempotency_key: str
    type: OrderType = "market"
    price: float | None = None
    """Limit price; ``None`` for market orders, which fill at the next bar's open."""

    def __post_init__(self) -> None:
        _require_text(self.symbol, "symbol")
        _require_text(self.deployment_id, "deployment_id")
        _require_text(self.idempotency_key, "idempotency_key")
        if self.side not in SIDES:
            raise ValueError(f"side: must be 'buy' or 'sell', got {self.side!r}")
        if self.type not in ORDER_TYPES:
            raise ValueError(f"type: must be 'market' or 'limit', got {self.type!r}")
        _require_positive(self.quantity, "quantity")
        if self.type == "limit" and self.price is None:
            raise ValueError("price: a limit order needs a price")
        if self.price is not None:
            _require_positive(self.price, "price")

    def to_json(self) -> dict[str, Any]:
        """The request body of ``POST /api/internal/orders``."""
        return {
            "symbol": self.symbol,
            "side": self.side,
            "type": self.type,
            "quantity": float(self.quantity),
            "price": None if self.price is None else float(self.price),
            "deploymentId": self.deployment_id,
            "idempotencyKey": self.idempotency_key,
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
class OrderPlacement:
    """An order as ``POST /orders`` answered it.

    ``created`` is False when the engine already held an order under the idempotency key and
    answered with it (200, not 201); that includes a retry of our own attempt whose answer was
    lost, so it says "nothing new was made by this answer", not "someone else made it".
    """

    order: Order
    created: bool


@dataclass(frozen=True)
class Portfolio:
    id: str
    """The deployment id: one portfolio per deployment."""
    cash: float
    equity: float
    """Cash plus positions marked at the latest close."""
    positions: Mapping[str, float]
    """Signed quantity per symbol; symbols with no position are absent."""
    updated_at: datetime

    @property
    def deployment_id(self) -> str:
        return self.id


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
