"""The walk-forward backtest: limits on every bar, no look-ahead, costs, and its building blocks."""

from __future__ import annotations

import numpy as np
import pytest

from nexus_assets.ml.backtest.market_stress import market_stress_scores
from nexus_assets.ml.backtest.performance import performance
from nexus_assets.ml.backtest.replay import BacktestConfig, run_backtest
from nexus_assets.ml.backtest.trend_model import (
    LOOKBACK,
    TrendReturnModel,
    ewma_volatility,
    forward_targets,
    trend_features,
)
from nexus_assets.sim.market import MarketSimConfig, simulate_market

CONFIG = BacktestConfig(warmup=300, rebalance_every=5, retrain_every=63)


@pytest.fixture(scope="module")
def prices() -> np.ndarray:
    bars = simulate_market(MarketSimConfig(symbols=tuple(f"S{i}" for i in range(6)), n_bars=700, seed=4))
    wide = bars.pivot(on="symbol", index="timestamp", values="close").sort("timestamp").drop("timestamp")
    table = wide.to_numpy().copy()
    table[:350, 5] = np.nan  # S5 lists late
    table[650:, 4] = np.nan  # S4 stops trading
    return table


@pytest.fixture(scope="module")
def result(prices):
    return run_backtest(prices, [f"S{i}" for i in range(6)], CONFIG)


def test_limits_hold_on_every_bar(prices, result):
    weights = result.weights
    assert np.isfinite(weights).all()
    assert (weights >= -1e-9).all()
    assert (weights <= CONFIG.max_weight + 1e-9).all()
    assert (np.abs(weights).sum(axis=1) <= CONFIG.max_gross + 1e-9).all()
    bars = result.decision_bars
    assert (weights[bars < 350 + LOOKBACK, 5] == 0).all(), "a symbol is tradable only after its lookback"
    assert (weights[bars >= 650, 4] == 0).all(), "a symbol that stops trading is sold"


def test_no_look_ahead(prices, result):
    cut = 500
    shocked = prices.copy()
    shocked[cut + 1 :] *= np.linspace(1.0, 3.0, len(shocked) - cut - 1)[:, None]
    again = run_backtest(shocked, [f"S{i}" for i in range(6)], CONFIG)
    upto = result.decision_bars <= cut
    assert np.array_equal(again.weights[upto], result.weights[upto])
    assert not np.array_equal(again.weights[~upto], result.weights[~upto])


def test_costs_are_charged_per_unit_of_turnover(prices, result):
    next_returns = np.nan_to_num(prices[1:] / prices[:-1] - 1.0)[result.decision_bars[:-1]]
    gross = (result.weights[:-1] * next_returns).sum(axis=1)
    assert np.allclose(result.returns["policy"], gross - 5e-4 * result.turnover["policy"])
    assert set(result.metrics) == {"policy", "equal_weight", "buy_and_hold", "inverse_volatility"}


def test_too_little_history_is_refused(prices):
    with pytest.raises(ValueError, match="prices: 200 bars, the backtest needs more than"):
        run_backtest(prices[:200], [f"S{i}" for i in range(6)], CONFIG)
    with pytest.raises(ValueError, match="warmup: must be at least"):
        BacktestConfig(warmup=10)


def test_trend_model_fits_only_known_targets(prices):
    log_prices = np.log(prices)
    returns = np.vstack([np.full(6, np.nan), np.diff(log_prices, axis=0)])
    vol = ewma_volatility(returns)
    targets = forward_targets(log_prices, vol)
    model = TrendReturnModel(trend_features(log_prices, vol), targets, vol)
    model.fit(400)
    before = model.predict(400)
    tampered = targets.copy()
    tampered[400 - 21 + 1 :] = 99.0  # targets not yet known at bar 400
    again = TrendReturnModel(trend_features(log_prices, vol), tampered, vol)
    again.fit(400)
    assert np.array_equal(again.predict(400), before)


def test_ewma_volatility_is_causal_and_matches_the_recursion():
    rng = np.random.default_rng(0)
    returns = rng.normal(0, 0.01, (50, 2))
    returns[:10, 1] = np.nan
    vol = ewma_volatility(returns)
    variance = returns[0, 0] ** 2
    for r in returns[1:, 0]:
        variance = 0.94 * variance + 0.06 * r**2
    assert vol[-1, 0] == pytest.approx(np.sqrt(variance))
    assert np.isnan(vol[:10, 1]).all()
    changed = returns.copy()
    changed[30:] *= 5
    assert np.array_equal(ewma_volatility(changed)[:30], vol[:30], equal_nan=True)


def test_market_stress_is_a_causal_percentile():
    rng = np.random.default_rng(1)
    returns = rng.normal(0, 0.01, (300, 4))
    returns[250] = 0.08
    vol = ewma_volatility(returns)
    scores = market_stress_scores(returns, vol)
    assert scores[250] > 0.99
    assert (scores >= 0).all()
    assert (scores <= 1).all()


def test_performance_statistics():
    returns = np.array([0.01, -0.02, 0.03, 0.0])
    stats = performance(returns, np.array([1.0, 0.0, 0.5, 0.0]), periods_per_year=4)
    assert stats["max_drawdown"] == pytest.approx(-0.02)
    assert stats["hit_rate"] == pytest.approx(2 / 3)
    assert stats["annual_turnover"] == pytest.approx(1.5)
    assert stats["annual_return"] == pytest.approx(1.01 * 0.98 * 1.03 - 1)
