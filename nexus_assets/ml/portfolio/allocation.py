"""Target weights for a book: the decision policy per standing signal, netted per symbol, then the optimizer.

Each symbol may carry several standing signals, one per strategy. Each goes through the policy
(volatility-targeted size, model agreement, the risk gate, caps) and the symbol's desired weight
is their mean: two strategies that disagree net to nothing instead of flipping the position, and
a strategy that is flat pulls the size down. Strategies that trade alike (a signal's optional
``cluster`` key, from ``strategy_clusters``) are averaged first, so they count once. A symbol with no standing signal is closed: no
position without a signal that allows it. The optimizer then finds the portfolio closest to those
desires that honours the portfolio limits (gross and net exposure, turnover, volatility target):
it is given the returns that make the desired weights optimal (``mu = risk_aversion * covariance
@ desired``), so where no limit binds it returns the policy's weights unchanged.

The allocation asset and the walk-forward replay both call ``allocate``; the replay switches the
optimizer off (``use_optimizer``) to measure what it adds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nexus_assets.ml.optimizer.weights import AllocationLimits, optimize_weights
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
    """The newest standing signal; optional ``review_scale``/``review_note`` keys carry its strategy's review."""
    sentiment: float | None = None
    sentiment_shock: bool = False
    signals: tuple[Mapping[str, Any], ...] = ()
    """Every standing signal, one per strategy; empty means just ``signal`` (when there is one)."""

    def standing(self) -> tuple[Mapping[str, Any], ...]:
        if self.signals:
            return self.signals
        return (self.signal,) if self.signal is not None else ()


@dataclass(frozen=True)
class AllocationOutcome:
    symbols: list[str]
    target_weights: np.ndarray
    desired_weights: np.ndarray
    decisions: dict[str, Decision]
    """Per symbol, the decision on its newest standing signal."""
    optimizer_status: str
    optimizer_reason: str | None
    expected_volatility: float
    states: dict[str, RiskState]
    """Each decided symbol's anomaly latch after its decisions."""
    signal_decisions: tuple[Decision, ...] = ()
    """Every standing signal's decision, in order (the report counts them by action and reason)."""


def _context(
    view: SymbolView, signal: Mapping[str, Any], others: float, equity: float, peak: float, kill: bool
) -> SignalContext:
    return SignalContext(
        symbol=view.symbol,
        side=str(signal["side"]),
        strength=float(signal["strength"]),
        predicted_return=view.predicted_return,
        volatility=view.volatility,
        anomaly_score=view.anomaly_score,
        current_weight=view.current_weight,
        other_gross=others,
        equity=equity,
        peak_equity=peak,
        kill_switch=kill,
        sentiment=view.sentiment,
        sentiment_shock=view.sentiment_shock,
        review_scale=float(signal.get("review_scale", 1.0)),
        review_note=signal.get("review_note"),
    )


def carried_by_signals(weights: np.ndarray, desired: np.ndarray) -> np.ndarray:
    """The optimizer's weights where the policy wants a position in that direction, else 0.

    The optimizer may leave solver dust (1e-8) on a symbol the policy closed, or hedge with a
    position no signal asked for; neither is traded. Zeroing only lowers gross, net and risk.
    """
    return np.where(np.sign(weights) == np.sign(desired), weights, 0.0)


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
    use_optimizer: bool = True,
) -> AllocationOutcome:
    current = np.array([v.current_weight for v in views], dtype=float)
    desired = current.copy()
    decisions: dict[str, Decision] = {}
    every: list[Decision] = []
    latches = latches or {}
    states: dict[str, RiskState] = {}
    for i, view in enumerate(views):
        standing = view.standing()
        if not standing:
            desired[i] = 0.0 if not kill_switch else view.current_weight
            continue
        others = float(np.abs(np.delete(desired, i)).sum())
        state = latches.get(view.symbol, RiskState())
        clusters: dict[str, list[float]] = {}
        for k, signal in enumerate(standing):
            decision = decide(_context(view, signal, others, equity, peak_equity, kill_switch), policy, state)
            state = decision.state
            cluster = str(signal.get("cluster") or signal.get("strategy_id") or k)
            clusters.setdefault(cluster, []).append(decision.target_weight)
            every.append(decision)
        states[view.symbol] = state
        decisions[view.symbol] = decision
        desired[i] = float(np.mean([np.mean(targets) for targets in clusters.values()]))
    symbols = [v.symbol for v in views]
    if kill_switch:
        return AllocationOutcome(
            symbols, current, desired, decisions, "halted", "kill switch", 0.0, states, tuple(every)
        )
    if not use_optimizer:
        return AllocationOutcome(symbols, desired, desired, decisions, "off", None, 0.0, states, tuple(every))
    implied_returns = limits.risk_aversion * covariance @ desired
    result = optimize_weights(implied_returns, covariance, current, limits)
    return AllocationOutcome(
        symbols=symbols,
        target_weights=carried_by_signals(result.weights, desired),
        desired_weights=desired,
        decisions=decisions,
        optimizer_status=result.status,
        optimizer_reason=result.reason,
        expected_volatility=result.expected_volatility,
        states=states,
        signal_decisions=tuple(every),
    )
