"""Walk-forward replay of the whole decision policy over price history, with costs.

At the close of each rebalance bar, using closes up to that bar only: the return model is
refitted on its schedule, volatility and a shrunk covariance are forecast, the optimizer
builds a fully invested risk-aware portfolio which is scaled to the volatility target, the
market-regime rule and the risk gate (anomaly halt, drawdown breaker) adjust it, and the
result is held over the next bar at a cost per unit of turnover. The same loop replays the
baselines: equal weight (1/N), buy-and-hold, and inverse volatility at the same target.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nexus_assets.ml.backtest.market_stress import market_stress_scores
from nexus_assets.ml.backtest.performance import performance
from nexus_assets.ml.backtest.trend_model import (
    LOOKBACK,
    TrendReturnModel,
    ewma_volatility,
    forward_targets,
    trend_features,
)
from nexus_assets.ml.optimizer.weights import AllocationLimits, WeightOptimizer
from nexus_assets.ml.portfolio.covariance import shrunk_covariance
from nexus_assets.ml.portfolio.risk_gate import ReasonCode, RiskLimits, RiskState, evaluate_gate

STRATEGIES: tuple[str, ...] = ("policy", "equal_weight", "buy_and_hold", "inverse_volatility")
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class BacktestConfig:
    cost_bps: float = 5.0
    rebalance_every: int = 5
    retrain_every: int = 63
    warmup: int = 504
    """First bar at which a decision is made (the model needs history before it)."""
    covariance_window: int = 252
    target_volatility: float = 0.10
    max_weight: float = 0.25
    max_gross: float = 1.0
    risk_aversion: float = 5.0
    regime_window: int = 200
    regime_scale: float = 0.5
    """Exposure kept while the equal-weight market is below its regime_window-bar average."""
    risk: RiskLimits = field(default_factory=lambda: RiskLimits(anomaly_halt=0.995, anomaly_resume=0.95))

    def __post_init__(self) -> None:
        if self.cost_bps < 0 or not math.isfinite(self.cost_bps):
            raise ValueError("cost_bps: must be a finite number >= 0")
        if not 0.0 < self.max_gross <= 3.0:
            raise ValueError("max_gross: must be in (0, 3]")
        if not 0.0 < self.max_weight <= self.max_gross:
            raise ValueError("max_weight: must be in (0, max_gross]")
        for name in ("rebalance_every", "retrain_every", "covariance_window", "regime_window"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1")
        if self.warmup < LOOKBACK + 1:
            raise ValueError(f"warmup: must be at least {LOOKBACK + 1} bars (the return model's lookback)")


@dataclass
class BacktestResult:
    symbols: list[str]
    decision_bars: np.ndarray
    """Index (into the input) of each bar at whose close ``weights`` were decided."""
    weights: np.ndarray
    """Target weights held over the next bar, one row per decision bar (the last bar included)."""
    returns: dict[str, np.ndarray]
    """Per strategy, the return over the bar after each decision bar but the last."""
    turnover: dict[str, np.ndarray]
    metrics: dict[str, dict[str, float]]
    reason_counts: dict[str, int]
    fallback_reasons: dict[str, int]
    warnings: list[str] = field(default_factory=list)
    """What the replay could not do as configured, and what it did instead."""


def _tradable(prices: np.ndarray, t: int) -> np.ndarray:
    """Priced now and with the return model's full lookback of prices behind it."""
    window = prices[t - LOOKBACK : t + 1]
    return np.isfinite(window).all(axis=0)


def _drift(weights: np.ndarray, bar_returns: np.ndarray) -> tuple[np.ndarray, float]:
    """Portfolio return over a bar and the weights it leaves (cash earns nothing)."""
    growth = float(np.dot(weights, bar_returns))
    return weights * (1.0 + bar_returns) / (1.0 + growth), growth


def _scale_to_target(weights: np.ndarray, covariance: np.ndarray, config: BacktestConfig) -> np.ndarray:
    annual = math.sqrt(max(float(weights @ covariance @ weights), 0.0) * 252)
    scale = min(1.0, config.target_volatility / annual) if annual > 0 else 0.0
    return weights * min(scale, config.max_gross / max(np.abs(weights).sum(), 1e-12))


def _inverse_volatility(
    volatility: np.ndarray, tradable: np.ndarray, covariance: np.ndarray, config: BacktestConfig
) -> np.ndarray:
    weights = np.where(tradable, 1.0 / np.where(tradable, volatility, 1.0), 0.0)
    if weights.sum() <= 0:
        return weights
    return _scale_to_target(weights / weights.sum(), covariance, config)


def run_backtest(
    prices: np.ndarray,
    symbols: list[str],
    config: BacktestConfig | None = None,
    progress: Progress | None = None,
) -> BacktestResult:
    """Replay the policy and the baselines; ``prices`` is [bars, symbols] of closes, NaN before listing."""
    config = config or BacktestConfig()
    n_bars, n_symbols = prices.shape
    if config.max_weight * n_symbols < 1.0 - 1e-9:
        raise ValueError(
            f"max_weight (--max-weight) {config.max_weight:g} x {n_symbols} symbols = "
            f"{config.max_weight * n_symbols:g}: the replayed policy is fully invested and cannot be; "
            f"use a max_weight of at least {math.ceil(1e3 / n_symbols) / 1e3:g}, or more symbols"
        )
    if n_bars <= config.warmup + 1:
        raise ValueError(
            f"prices: {n_bars} bars, the backtest needs more than warmup + 1 = {config.warmup + 1}"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        log_prices = np.log(prices)
    log_returns = np.vstack([np.full(n_symbols, np.nan), np.diff(log_prices, axis=0)])
    next_returns = np.nan_to_num(np.expm1(np.vstack([log_returns[1:], np.full(n_symbols, np.nan)])), nan=0.0)
    volatility = ewma_volatility(log_returns)
    model = TrendReturnModel(
        trend_features(log_prices, volatility), forward_targets(log_prices, volatility), volatility
    )
    stress = market_stress_scores(log_returns, volatility)
    priced_returns = np.isfinite(log_returns)
    counted = priced_returns.sum(axis=1)
    mean_return = np.where(
        counted > 0, np.where(priced_returns, log_returns, 0.0).sum(axis=1) / np.maximum(counted, 1), np.nan
    )
    market = np.nancumsum(mean_return)
    optimizers: dict[int, WeightOptimizer] = {}
    partly_invested = 0
    cost = config.cost_bps / 1e4
    held = {name: np.zeros(n_symbols) for name in STRATEGIES}
    returns = {name: [] for name in STRATEGIES}
    turnover = {name: [] for name in STRATEGIES}
    decided: list[np.ndarray] = []
    reasons: Counter[str] = Counter()
    fallback_reasons: Counter[str] = Counter()
    state, equity, peak = RiskState(), 1.0, 1.0
    listed_at_start = np.isfinite(prices[config.warmup])
    # The last bar gets a decision too (what to hold tomorrow); only its return is unknown.
    decision_bars = np.arange(config.warmup, n_bars)
    for step, t in enumerate(decision_bars):
        targets = {name: held[name].copy() for name in STRATEGIES}
        tradable = _tradable(prices, t)
        priced = np.isfinite(prices[t])
        if step == 0:
            targets["buy_and_hold"] = np.where(listed_at_start, 1.0 / max(listed_at_start.sum(), 1), 0.0)
        if step % config.rebalance_every == 0 or (~priced & (held["policy"] != 0)).any():
            if t - model.fitted_until >= config.retrain_every:
                model.fit(t)
            window = log_returns[max(t - config.covariance_window + 1, 1) : t + 1]
            covariance = shrunk_covariance(window, np.where(tradable, volatility[t], np.nan))
            targets["equal_weight"] = np.where(priced, 1.0 / max(priced.sum(), 1), 0.0)
            targets["inverse_volatility"] = _inverse_volatility(volatility[t], tradable, covariance, config)
            # The optimizer builds the fully invested portfolio; scaling to the volatility target
            # comes after, so it is compared with the previous portfolio at full investment too.
            invested = held["policy"].sum()
            previous = held["policy"] / invested if invested > 1e-9 else held["policy"]
            # Fully invested where the cap allows it; with too few symbols trading yet (listed
            # later, halted), as invested as the cap allows, counted and reported, never cash.
            optimizer = _optimizer(optimizers, config, n_symbols, int(tradable.sum()))
            partly_invested += optimizer.limits.min_net < 1.0 - 1e-5
            allocation = optimizer.solve(model.predict(t), covariance, previous, tradable)
            if allocation.status != "optimal":
                reasons[ReasonCode.SOLVER_FALLBACK] += 1
                fallback_reasons[allocation.reason or allocation.status] += 1
            proposal = _scale_to_target(allocation.weights, covariance, config)
            trend = market[t] - np.mean(market[max(t - config.regime_window + 1, 0) : t + 1])
            if trend < 0:
                proposal = proposal * config.regime_scale
                reasons[ReasonCode.MARKET_DOWNTREND] += 1
            gate = evaluate_gate(
                kill_switch=False,
                anomaly_score=float(stress[t]),
                equity=equity,
                peak_equity=peak,
                limits=config.risk,
                state=state,
            )
            state = gate.state
            reasons.update(gate.codes)
            if gate.halt:
                proposal = held["policy"].copy()
            elif gate.no_new_risk:
                # Only reductions: the same rule the policy applies to each signal.
                proposal = np.sign(proposal) * np.minimum(np.abs(proposal), np.abs(held["policy"]))
            targets["policy"] = np.where(priced, proposal, 0.0)
        decided.append(targets["policy"])
        if progress is not None:
            progress(step + 1, len(decision_bars))
        if t == n_bars - 1:
            break
        for name in STRATEGIES:
            traded = float(np.abs(targets[name] - held[name]).sum())
            held[name], growth = _drift(targets[name], next_returns[t])
            returns[name].append(growth - cost * traded)
            turnover[name].append(traded)
        equity *= 1.0 + returns["policy"][-1]
        peak = max(peak, equity)
    as_arrays = {name: np.array(values) for name, values in returns.items()}
    turnover_arrays = {name: np.array(values) for name, values in turnover.items()}
    return BacktestResult(
        symbols=list(symbols),
        decision_bars=decision_bars,
        weights=np.array(decided),
        returns=as_arrays,
        turnover=turnover_arrays,
        metrics={name: performance(as_arrays[name], turnover_arrays[name]) for name in STRATEGIES},
        reason_counts=dict(reasons),
        fallback_reasons=dict(fallback_reasons),
        warnings=[
            f"{partly_invested} rebalances had fewer than 1 / max_weight symbols trading: the policy "
            f"held max_weight x the symbols trading instead of being fully invested"
        ]
        if partly_invested
        else [],
    )


def _optimizer(
    cache: dict[int, WeightOptimizer], config: BacktestConfig, n_symbols: int, trading: int
) -> WeightOptimizer:
    """The fully invested optimizer, or the most invested one ``trading`` symbols can reach."""
    reachable = min(config.max_weight * trading, 1.0)
    key = trading if reachable < 1.0 else -1
    if key not in cache:
        cache[key] = WeightOptimizer(
            n_symbols,
            AllocationLimits(
                max_weight=config.max_weight,
                max_gross=1.0,
                max_net=1.0,
                # Fully invested up to solver tolerance; scaling to the volatility target comes after.
                min_net=max(reachable - 1e-6, 0.0),
                long_only=True,
                max_turnover=None,
                target_volatility=None,
                risk_aversion=config.risk_aversion,
                cost_per_unit_turnover=config.cost_bps / 1e4,
            ),
        )
    return cache[key]
