"""Turning target weights into Live Engine orders, safely repeatable.

``plan_orders`` is pure arithmetic; ``publish_allocation`` reads the portfolio, plans and
places. Every order's idempotency key is ``f"{allocation_id}:{symbol}"``, so an allocation
can trade each symbol at most once: publishing it again, or re-running a publish that
stopped part-way, replays the orders already placed instead of trading twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from nexus_assets.live_engine.client import LiveEngineClient
from nexus_assets.live_engine.errors import LiveEngineConflictError
from nexus_assets.live_engine.models import Order, OrderPlacement, OrderRequest

_LOT_EPSILON = 1e-9
"""Slack on lot counts, so 9.9999999997 lots computed in floating point is 10 lots, not 9."""


def idempotency_key(allocation_id: str, symbol: str) -> str:
    return f"{allocation_id}:{symbol}"


def _finite(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{field}: must be a finite number, got {value!r}")
    return float(value)


def _price(prices: Mapping[str, float], symbol: str) -> float:
    if symbol not in prices:
        raise ValueError(f"prices: no price for {symbol!r}, which has to trade")
    price = _finite(prices[symbol], f"prices[{symbol!r}]")
    if price <= 0:
        raise ValueError(f"prices[{symbol!r}]: must be greater than 0, got {price!r}")
    return price


def _lots(quantity: float, lot_size: float) -> float:
    """``quantity`` rounded toward zero to whole lots, so a trade never goes past its target."""
    lots = math.floor(abs(quantity) / lot_size + _LOT_EPSILON)
    return round(lots * lot_size, 12)


def plan_orders(
    target_weights: Mapping[str, float],
    positions: Mapping[str, float],
    prices: Mapping[str, float],
    equity: float,
    *,
    allocation_id: str,
    deployment_id: str,
    min_notional: float = 1.0,
    lot_size: float = 1.0,
) -> list[OrderRequest]:
    """Market orders that move ``positions`` to ``target_weights`` of ``equity``.

    A symbol held but absent from the targets is closed in full (lots do not apply: the aim is
    zero). Other trades are rounded toward zero to whole lots, so rounding cannot spend more
    cash than the weights allow. Trades worth less than ``min_notional`` are skipped. Sells
    come before buys, so an engine that checks buying power sees the cash they free first.
    """
    for name, value in (("allocation_id", allocation_id), ("deployment_id", deployment_id)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name}: must be a non-empty string, got {value!r}")
    equity = _finite(equity, "equity")
    if equity <= 0:
        raise ValueError(f"equity: must be greater than 0, got {equity!r}")
    lot_size = _finite(lot_size, "lot_size")
    if lot_size <= 0:
        raise ValueError(f"lot_size: must be greater than 0, got {lot_size!r}")
    if _finite(min_notional, "min_notional") < 0:
        raise ValueError(f"min_notional: must not be negative, got {min_notional!r}")
    weights = {s: _finite(w, f"target_weights[{s!r}]") for s, w in target_weights.items()}
    held = {s: _finite(q, f"positions[{s!r}]") for s, q in positions.items()}

    orders = []
    for symbol in sorted(weights.keys() | held.keys()):
        weight, current = weights.get(symbol, 0.0), held.get(symbol, 0.0)
        if weight == 0.0 and current == 0.0:
            continue
        price = _price(prices, symbol)
        delta = -current if weight == 0.0 else weight * equity / price - current
        quantity = abs(delta) if weight == 0.0 else _lots(delta, lot_size)
        if quantity == 0.0 or quantity * price < min_notional:
            continue
        orders.append(
            OrderRequest(
                symbol=symbol,
                side="buy" if delta > 0 else "sell",
                quantity=quantity,
                deployment_id=deployment_id,
                idempotency_key=idempotency_key(allocation_id, symbol),
            )
        )
    return sorted(orders, key=lambda order: order.side != "sell")


@dataclass(frozen=True)
class PublishResult:
    allocation_id: str
    deployment_id: str
    planned: tuple[OrderRequest, ...]
    placements: tuple[OrderPlacement, ...]
    conflicts: tuple[tuple[str, str], ...]
    """``(symbol, engine message)`` where the engine already holds this allocation's key for
    the symbol with a different order: the allocation traded that symbol before (its plan has
    changed since, typically because the earlier orders filled), and trading again would be
    the double trade the key exists to prevent."""

    @property
    def orders(self) -> tuple[Order, ...]:
        """Every order of this allocation the engine answered with, new or already there."""
        return tuple(p.order for p in self.placements)

    @property
    def created(self) -> tuple[Order, ...]:
        return tuple(p.order for p in self.placements if p.created)

    @property
    def existing(self) -> tuple[Order, ...]:
        return tuple(p.order for p in self.placements if not p.created)


def publish_allocation(
    client: LiveEngineClient,
    target_weights: Mapping[str, float],
    *,
    prices: Mapping[str, float],
    allocation_id: str,
    deployment_id: str,
    min_notional: float = 1.0,
    lot_size: float = 1.0,
) -> PublishResult:
    """Place the orders that move the deployment's portfolio to ``target_weights``.

    Positions and equity come from the engine; ``prices`` from the caller, the same prices
    the allocation was computed with. Any error other than a key conflict stops the publish;
    running it again is safe and places only what is still missing.
    """
    portfolio = client.get_portfolio(deployment_id)
    planned = plan_orders(
        target_weights,
        portfolio.positions,
        prices,
        portfolio.equity,
        allocation_id=allocation_id,
        deployment_id=deployment_id,
        min_notional=min_notional,
        lot_size=lot_size,
    )
    placements, conflicts = [], []
    for request in planned:
        try:
            placements.append(client.place_order(request))
        except LiveEngineConflictError as exc:
            conflicts.append((request.symbol, exc.message))
    return PublishResult(
        allocation_id=allocation_id,
        deployment_id=deployment_id,
        planned=tuple(planned),
        placements=tuple(placements),
        conflicts=tuple(conflicts),
    )
