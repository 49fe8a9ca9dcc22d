"""The live book for the newest bar: views, policy and optimizer, as the table the asset stores.

``portfolio_allocation`` hands it the champions, the graph's tables and the current weights;
what comes back is the stored table (one row per symbol with action and reasons), the target
weights and prices the publisher needs, and the optimizer's outcome for the run's metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

from nexus_assets.ml.optimizer.limits import AllocationLimits
from nexus_assets.ml.portfolio.allocation import AllocationOutcome, allocate
from nexus_assets.ml.portfolio.allocation_inputs import symbol_views
from nexus_assets.ml.portfolio.policy import PolicyConfig
from nexus_assets.ml.portfolio.risk_gate import RiskState

if TYPE_CHECKING:
    from nexus_assets.ml.registry.champions import Champions


def book_limits(
    *,
    max_weight: float,
    max_gross: float,
    max_turnover: float,
    cost_bps: float,
    holding_bars: int,
    target_volatility: float,
) -> tuple[AllocationLimits, PolicyConfig]:
    """The optimizer's limits and the policy's for the operator's settings (the asset's config)."""
    limits = AllocationLimits(
        max_weight=max_weight,
        max_gross=max_gross,
        max_net=max_gross,
        min_net=-max_gross,
        long_only=False,
        max_turnover=max_turnover,
        target_volatility=target_volatility,
        # Returns are per bar, a trade is paid once: spread its cost over the expected holding period.
        cost_per_unit_turnover=cost_bps / 1e4 / holding_bars,
    )
    policy = PolicyConfig(
        max_position_weight=max_weight, max_gross=max_gross, target_volatility=target_volatility
    )
    return limits, policy


@dataclass(frozen=True)
class Book:
    table: pl.DataFrame
    """One row per symbol: target, desired and current weight, action, reasons, model views."""
    weights: dict[str, float]
    prices: dict[str, float]
    as_of: str
    """The newest bar's timestamp, as text: part of the allocation id."""
    outcome: AllocationOutcome


def allocate_book(
    champions: Champions,
    market_bars: pl.DataFrame,
    features: pl.DataFrame,
    signals: pl.DataFrame,
    current: dict[str, float],
    now: datetime,
    *,
    limits: AllocationLimits,
    policy: PolicyConfig,
    kill_switch: bool = False,
    latches: Mapping[str, RiskState] | None = None,
    equity: float = 1.0,
    peak_equity: float = 1.0,
    sentiment: pl.DataFrame | None = None,
    reviews: pl.DataFrame | None = None,
) -> Book:
    views, covariance, prices = symbol_views(
        champions, market_bars, features, signals, current, now, sentiment=sentiment, reviews=reviews
    )
    outcome = allocate(
        views,
        covariance,
        policy=policy,
        limits=limits,
        latches=latches,
        equity=equity,
        peak_equity=peak_equity,
        kill_switch=kill_switch,
    )
    as_of = str(market_bars["timestamp"].max())
    rows = []
    for i, view in enumerate(views):
        decision = outcome.decisions.get(view.symbol)
        rows.append(
            {
                "symbol": view.symbol,
                "target_weight": float(outcome.target_weights[i]),
                "desired_weight": float(outcome.desired_weights[i]),
                "current_weight": view.current_weight,
                "action": decision.action.value if decision else "hold",
                "confidence": decision.confidence if decision else 0.0,
                "reason_codes": ",".join(decision.reason_codes) if decision else "",
                "reasons": "; ".join(decision.reasons) if decision else "no fresh signal",
                "signal_id": view.signal["signal_id"] if view.signal else None,
                "predicted_return": view.predicted_return,
                "volatility_forecast": view.volatility,
                "anomaly_score": view.anomaly_score,
                "sentiment": view.sentiment,
                "sentiment_shock": view.sentiment_shock,
                "review_scale": float(view.signal.get("review_scale", 1.0)) if view.signal else None,
                "price": prices[view.symbol],
                "as_of": as_of,
            }
        )
    table = pl.DataFrame(rows)
    weights = dict(zip(table["symbol"], table["target_weight"], strict=True))
    return Book(table=table, weights=weights, prices=prices, as_of=as_of, outcome=outcome)
