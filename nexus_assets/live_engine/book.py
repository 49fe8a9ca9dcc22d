"""The book as the Live Engine holds it: the deployment we trade in, its portfolio, its weights.

The real engine makes a new deployment on every POST and keeps portfolios as records of their
own, so both are found by listing, not by a key: the deployment of our strategy in our mode
that has not ended, and the one portfolio of that mode unless one is named.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from nexus_assets.live_engine.client import LiveEngineClient
from nexus_assets.live_engine.errors import LiveEngineConfigError
from nexus_assets.live_engine.ledger import OrderLedger
from nexus_assets.live_engine.models import ENDED_DEPLOYMENT_STATUSES, Deployment, DeploymentMode, Portfolio
from nexus_assets.live_engine.publish import PublishReport, publish_allocation


def open_deployment(
    client: LiveEngineClient, strategy_id: str, *, mode: DeploymentMode, capital: float
) -> Deployment:
    """The oldest deployment of ``strategy_id`` in ``mode`` that has not ended, created when there
    is none (so a publisher restarting finds the one it made)."""
    live = [
        d
        for d in client.list_deployments()
        if d.strategy_id == strategy_id and d.mode == mode and d.status not in ENDED_DEPLOYMENT_STATUSES
    ]
    if live:
        return min(live, key=lambda d: (d.created_at, d.id))
    return client.create_deployment(strategy_id, mode=mode, capital=capital)


def find_portfolio(
    client: LiveEngineClient, mode: DeploymentMode, portfolio_id: str | None = None
) -> Portfolio:
    """``portfolio_id``'s portfolio, or the engine's only portfolio in ``mode``."""
    if portfolio_id:
        return client.get_portfolio(portfolio_id)
    candidates = [p for p in client.list_portfolios() if p.mode == mode]
    if len(candidates) != 1:
        found = ", ".join(p.id for p in candidates) or "none"
        raise LiveEngineConfigError(
            f"LIVE_ENGINE_PORTFOLIO_ID: the engine has {len(candidates)} {mode} portfolios ({found}); "
            "name the one to trade"
        )
    return candidates[0]


def current_weights(portfolio: Portfolio, market_bars: pl.DataFrame) -> dict[str, float]:
    """Each held symbol's weight of total value at its newest close; symbols without bars are left out."""
    last_close = dict(
        market_bars.sort("timestamp").group_by("symbol").last().select("symbol", "close").iter_rows()
    )
    return {
        symbol: quantity * last_close[symbol] / portfolio.total_value
        for symbol, quantity in portfolio.quantities.items()
        if symbol in last_close
    }


def publish_to_book(
    client: LiveEngineClient,
    ledger: OrderLedger,
    target_weights: Mapping[str, float],
    *,
    prices: Mapping[str, float],
    allocation_id: str,
    strategy_id: str,
    mode: DeploymentMode,
    capital: float,
    portfolio_id: str | None = None,
    equity: float | None = None,
) -> PublishReport:
    """Publish into our deployment and portfolio: the one path of the asset and ``nexus publish``.

    The engine's state is read before anything is recorded, so an engine that cannot be reached
    or read leaves the ledger as it was."""
    portfolio = find_portfolio(client, mode, portfolio_id)
    deployment = open_deployment(client, strategy_id, mode=mode, capital=capital)
    return publish_allocation(
        client,
        ledger,
        target_weights,
        prices=prices,
        allocation_id=allocation_id,
        deployment_id=deployment.id,
        portfolio_id=portfolio.id,
        equity=equity,
    )
