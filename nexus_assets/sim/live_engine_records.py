"""What the Live Engine stand-in stores: orders, deployments, accounts, and its refusals.

Records render themselves in the engine's camelCase layout (``to_json``); the world owns the
rules that change them.
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


@dataclass(frozen=True)
class OrderSpec:
    """An order as requested; two requests under one idempotency key must be equal specs."""

    symbol: str
    side: str
    type: str
    quantity: float
    price: float | None
    deployment_id: str
    idempotency_key: str


@dataclass
class OrderRecord:
    id: str
    spec: OrderSpec
    placed_bar: int
    created_at: datetime
    updated_at: datetime
    status: str = "pending"
    filled_quantity: float = 0.0
    filled_price: float | None = None

    def to_json(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "id": self.id,
            "status": self.status,
            "symbol": spec.symbol,
            "side": spec.side,
            "type": spec.type,
            "quantity": spec.quantity,
            "price": spec.price,
            "filledQuantity": self.filled_quantity,
            "filledPrice": self.filled_price,
            "deploymentId": spec.deployment_id,
            "idempotencyKey": spec.idempotency_key,
            "createdAt": format_time(self.created_at),
            "updatedAt": format_time(self.updated_at),
        }


@dataclass(frozen=True)
class DeploymentSpec:
    strategy_id: str
    mode: str
    capital: float
    idempotency_key: str


@dataclass
class DeploymentRecord:
    id: str
    spec: DeploymentSpec
    created_at: datetime
    status: str = "running"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "strategyId": self.spec.strategy_id,
            "mode": self.spec.mode,
            "capital": self.spec.capital,
            "status": self.status,
            "createdAt": format_time(self.created_at),
        }


@dataclass
class Account:
    """A deployment's cash and positions: a margin account without limits (cash may go
    negative, positions short), because the stand-in tests order flow, not risk checks."""

    deployment_id: str
    cash: float
    updated_at: datetime
    positions: dict[str, float] = field(default_factory=dict)

    def fill(self, side: str, symbol: str, quantity: float, price: float, when: datetime) -> None:
        signed = quantity if side == "buy" else -quantity
        position = self.positions.get(symbol, 0.0) + signed
        if abs(position) < _DUST:
            self.positions.pop(symbol, None)
        else:
            self.positions[symbol] = position
        self.cash -= signed * price
        self.updated_at = when

    def equity(self, closes: Mapping[str, float]) -> float:
        return self.cash + sum(q * closes[s] for s, q in self.positions.items())

    def to_json(self, closes: Mapping[str, float]) -> dict[str, Any]:
        return {
            "id": self.deployment_id,
            "cash": self.cash,
            "equity": self.equity(closes),
            "positions": dict(sorted(self.positions.items())),
            "updatedAt": format_time(self.updated_at),
        }
