"""The book as the Live Engine holds it: the deployment allocations trade in, and its current weights."""

from __future__ import annotations

import polars as pl

from nexus_assets.live_engine.client import LiveEngineClient
from nexus_assets.live_engine.models import Deployment, Portfolio


def open_deployment(client: LiveEngineClient, strategy_id: str, *, mode: str, capital: float) -> Deployment:
    """The deployment of ``strategy_id`` in ``mode``, created once (a repeat returns the same one)."""
    return client.create_deployment(
        strategy_id, mode=mode, capital=capital, idempotency_key=f"{strategy_id}-{mode}"
    )


def current_weights(portfolio: Portfolio, market_bars: pl.DataFrame) -> dict[str, float]:
    """Each held symbol's weight of equity at its newest close; symbols without bars are left out."""
    last_close = dict(
        market_bars.sort("timestamp").group_by("symbol").last().select("symbol", "close").iter_rows()
    )
    return {
        symbol: quantity * last_close[symbol] / portfolio.equity
        for symbol, quantity in portfolio.positions.items()
        if symbol in last_close
    }
