"""Turning target weights into Live Engine orders: the arithmetic.

``plan_orders`` is pure: positions and weights in, lot-rounded market orders out, each named
by its client key ``{allocation_id}:{symbol}:{attempt}`` (``client_key``). Sending them, once,
is ``publish.publish_allocation``'s job.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from nexus_assets.live_engine.models import OrderRequest

_LOT_EPSILON = 1e-9
"""Slack on lot counts, so 9.9999999997 lots computed in floating point is 10 lots, not 9."""


def client_key(allocation_id: str, symbol: str, attempt: int = 1) -> str:
    """The ledger's key of an allocation's order for a symbol; a new attempt only follows one
    that never reached the engine or that the engine lost."""
    return f"{allocation_id}:{symbol}:{attempt}"


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
    attempts: Mapping[str, int] | None = None,
) -> list[OrderRequest]:
    """Market orders that move ``positions`` to ``target_weights`` of ``equity``.

    A symbol held but absent from the targets is closed in full (lots do not apply: the aim is
    zero). Other trades are rounded toward zero to whole lots, so rounding cannot spend more
    cash than the weights allow. Trades worth less than ``min_notional`` are skipped. Sells
    come before buys, so an engine that checks buying power sees the cash they free first.
    ``attempts`` gives a symbol's attempt number for its key (default 1).
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
                client_key=client_key(allocation_id, symbol, (attempts or {}).get(symbol, 1)),
            )
        )
    return sorted(orders, key=lambda order: order.side != "sell")
