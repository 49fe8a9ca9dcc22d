"""Target weights for the live book: the decision policy per signal, then the optimizer.

The policy turns each symbol's newest signal (and the models' views) into a desired weight
with reasons. The optimizer then finds the portfolio closest to those desires that honours the
portfolio limits (gross and net exposure, turnover, volatility target): it is given the returns
that make the desired weights optimal (``mu = risk_aversion * covariance @ desired``), so where
no limit binds it returns the policy's weights unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nexus_assets.ml.optimizer.weights import AllocationLimits, WeightOptimizer
from nexus_assets.ml.portfolio.policy import Decision, PolicyConfig, SignalContext, decide
from nexus_assets.ml.portfolio.risk_gate import RiskState


@dataclass(frozen=True)
class SymbolView:
    """What the models and the book say about one symbol at the allocation time."""

    symbol: str
    predicted_return: float
    volatility: float
    anomaly_score: float
    current_weight: float
    signal: Mapping[str, Any] | None = None
    """The newest signal; optional ``review_scale``/``review_note`` keys carry its strategy's review."""
    sentiment: float | None = None
    sentiment_shock: bool = False


@dataclass(frozen=True)
class AllocationOutcome:
    symbols: list[str]
    target_weights: np.ndarray
    desired_weights: np.ndarray
    decisions: dict[str, Decision]
    optimizer_status: str
    optimizer_reason: str | None
    expected_volatility: float
    states: dict[str, RiskState]
    """Each decided symbol's anomaly latch after its decision."""


def allocate(
    views: Sequence[SymbolView],
    covariance: np.ndarray,
    *,
    policy: PolicyConfig,
    limits: AllocationLimits,
    latches: Mapping[str, RiskState] | None = None,
    equity: float = 1.0,
    peak_equity: float = 1.0,
    kill_switch: bool = False,
) -> AllocationOutcome:
    current = np.array([v.current_weight for v in views], dtype=float)
    desired = current.copy()
    decisions: dict[str, Decision] = {}
    latches = latches or {}
    states: dict[str, RiskState] = {}
    for i, view in enumerate(views):
        if view.signal is None:
            continue
        others = float(np.abs(np.delete(desired, i)).sum())
        decision = decide(
            SignalContext(
                symbol=view.symbol,
                side=str(view.signal["side"]),
                strength=float(view.signal["strength"]),
                predicted_return=view.predicted_return,
                volatility=view.volatility,
                anomaly_score=view.anomaly_score,
                current_weight=view.current_weight,
                other_gross=others,
                equity=equity,
                peak_equity=peak_equity,
                kill_switch=kill_switch,
                sentiment=view.sentiment,
                sentiment_shock=view.sentiment_shock,
                review_scale=float(view.signal.get("review_scale", 1.0)),
                review_note=view.signal.get("review_note"),
            ),
            policy,
            latches.get(view.symbol, RiskState()),
        )
        states[view.symbol] = decision.state
        decisions[view.symbol] = decision
        desired[i] = decision.target_weight
    if kill_switch:
        return AllocationOutcome(
            [v.symbol for v in views], current, desired, decisions, "halted", "kill switch", 0.0, states
        )
    implied_returns = limits.risk_aversion * covariance @ desired
    result = WeightOptimizer(len(views), limits).solve(implied_returns, covariance, current)
    return AllocationOutcome(
        symbols=[v.symbol for v in views],
        target_weights=result.weights,
        desired_weights=desired,
        decisions=decisions,
        optimizer_status=result.status,
        optimizer_reason=result.reason,
        expected_volatility=result.expected_volatility,
        states=states,
    )
