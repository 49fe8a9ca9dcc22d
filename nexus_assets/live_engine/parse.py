"""Strict reading of the Live Engine's JSON into typed results.

A field that is missing, of the wrong type, non-finite or outside its enum is an error naming
the field (``order.filledQuantity``): an order we misread is worse than one we refuse to read.
Unknown extra fields are ignored, so the engine may add to its layout without breaking us.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from types import MappingProxyType
from typing import Any, TypeVar, cast

from nexus_assets.live_engine.models import (
    DEPLOYMENT_MODES,
    ORDER_STATUSES,
    ORDER_TYPES,
    SIDES,
    Deployment,
    DeploymentMode,
    Order,
    OrderStatus,
    OrderType,
    Portfolio,
    Position,
    Side,
)
from nexus_assets.lona.wire import parse_time

T = TypeVar("T")


class FieldError(ValueError):
    """A member of a response that is not what the protocol says; ``field`` is its dotted path."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class _Fields:
    """Typed access to one JSON object, naming ``where.member`` in every error."""

    def __init__(self, value: object, where: str) -> None:
        if not isinstance(value, dict):
            raise FieldError(where, f"expected an object, got {type(value).__name__}")
        self._value: dict[str, Any] = value
        self._where = where

    def _get(self, name: str) -> object:
        if name not in self._value:
            raise FieldError(f"{self._where}.{name}", "is missing")
        return self._value[name]

    def _fail(self, name: str, expected: str, value: object) -> FieldError:
        return FieldError(f"{self._where}.{name}", f"expected {expected}, got {value!r}")

    def text(self, name: str) -> str:
        value = self._get(name)
        if not isinstance(value, str) or not value:
            raise self._fail(name, "a non-empty string", value)
        return value

    def optional_text(self, name: str) -> str | None:
        """Absent or null is None; present, it must be a non-empty string."""
        if self._value.get(name) is None:
            return None
        return self.text(name)

    def nullable_text(self, name: str) -> str | None:
        """Present in every answer, null allowed (the real order's ``deploymentId``)."""
        if self._get(name) is None:
            return None
        return self.text(name)

    def optional_time(self, name: str) -> datetime | None:
        if self._value.get(name) is None:
            return None
        return self.time(name)

    def choice(self, name: str, allowed: frozenset[str]) -> str:
        value = self._get(name)
        if value not in allowed:
            raise self._fail(name, "one of " + ", ".join(sorted(allowed)), value)
        return cast(str, value)

    def number(self, name: str, *, positive: bool = False, non_negative: bool = False) -> float:
        value = self._get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self._fail(name, "a finite number", value)
        if positive and value <= 0:
            raise self._fail(name, "a number > 0", value)
        if non_negative and value < 0:
            raise self._fail(name, "a number >= 0", value)
        return float(value)

    def optional_number(
        self, name: str, *, positive: bool = False, non_negative: bool = False
    ) -> float | None:
        if self._value.get(name) is None:
            return None
        return self.number(name, positive=positive, non_negative=non_negative)

    def time(self, name: str) -> datetime:
        value = self._get(name)
        try:
            return parse_time(value)
        except ValueError:
            raise self._fail(name, "an ISO 8601 time", value) from None

    def items(self, name: str) -> list[object]:
        value = self._get(name)
        if not isinstance(value, list):
            raise self._fail(name, "a list", value)
        return value

    def where(self, name: str) -> str:
        return f"{self._where}.{name}"


def parse_order(value: object, where: str = "order") -> Order:
    """The real engine's order (``id, providerOrderId, symbol, side, type, quantity, price,
    status, deploymentId, createdAt``); fill and key fields are read when present."""
    f = _Fields(value, where)
    return Order(
        id=f.text("id"),
        status=cast(OrderStatus, f.choice("status", ORDER_STATUSES)),
        symbol=f.text("symbol"),
        side=cast(Side, f.choice("side", SIDES)),
        type=cast(OrderType, f.choice("type", ORDER_TYPES)),
        quantity=f.number("quantity", positive=True),
        price=f.optional_number("price", positive=True),
        filled_quantity=f.optional_number("filledQuantity", non_negative=True),
        filled_price=f.optional_number("filledPrice", positive=True),
        deployment_id=f.nullable_text("deploymentId"),
        idempotency_key=f.optional_text("idempotencyKey"),
        created_at=f.time("createdAt"),
        updated_at=f.optional_time("updatedAt"),
        provider_order_id=f.optional_text("providerOrderId"),
    )


def parse_position(value: object, where: str) -> Position:
    f = _Fields(value, where)
    return Position(
        symbol=f.text("symbol"),
        quantity=f.number("quantity"),
        avg_price=f.number("avgPrice", non_negative=True),
        current_price=f.number("currentPrice", non_negative=True),
        unrealized_pnl=f.number("unrealizedPnl"),
    )


def parse_portfolio(value: object, where: str = "portfolio") -> Portfolio:
    """The real engine's portfolio (``id, mode, cash, totalValue, pnlTotal, positions: [...]``)."""
    f = _Fields(value, where)
    positions: dict[str, Position] = {}
    for index, item in enumerate(f.items("positions")):
        position = parse_position(item, f"{f.where('positions')}[{index}]")
        if position.symbol in positions:
            raise FieldError(
                f"{f.where('positions')}[{index}].symbol", f"{position.symbol!r} is listed twice"
            )
        positions[position.symbol] = position
    return Portfolio(
        id=f.text("id"),
        mode=cast(DeploymentMode, f.choice("mode", DEPLOYMENT_MODES)),
        cash=f.number("cash"),
        total_value=f.number("totalValue"),
        pnl_total=f.optional_number("pnlTotal"),
        positions=MappingProxyType(positions),
    )


def parse_deployment(value: object, where: str = "deployment") -> Deployment:
    f = _Fields(value, where)
    return Deployment(
        id=f.text("id"),
        strategy_id=f.text("strategyId"),
        mode=cast(DeploymentMode, f.choice("mode", DEPLOYMENT_MODES)),
        capital=f.number("capital", positive=True),
        status=f.text("status"),
        created_at=f.time("createdAt"),
        provider_ref_id=f.optional_text("providerRefId"),
        latest_pnl=f.optional_number("latestPnl"),
        updated_at=f.optional_time("updatedAt"),
    )


def parse_list(value: object, where: str, parse_item: Callable[[object, str], T]) -> list[T]:
    """Every item of a JSON list, each named ``where[i]`` in errors."""
    if not isinstance(value, list):
        raise FieldError(where, f"expected a list, got {type(value).__name__}")
    return [parse_item(item, f"{where}[{index}]") for index, item in enumerate(value)]
