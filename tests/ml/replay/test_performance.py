"""Performance statistics: skfolio's measures, drawdowns from the starting capital."""

from __future__ import annotations

import numpy as np
import pytest

from nexus_assets.ml.replay.performance import drawdowns, equity_curve, performance


def test_performance_statistics():
    returns = np.array([0.01, -0.02, 0.03, 0.0])
    stats = performance(returns, np.array([1.0, 0.0, 0.5, 0.0]), periods_per_year=4)
    assert set(stats) == {
        "annual_return",
        "annual_volatility",
        "sharpe",
        "sortino",
        "max_drawdown",
        "calmar",
        "drawdown_per_volatility",
        "annual_turnover",
        "hit_rate",
        "periods",
    }
    assert stats["max_drawdown"] == pytest.approx(-0.02)
    assert stats["hit_rate"] == pytest.approx(2 / 3)
    assert stats["annual_turnover"] == pytest.approx(1.5)
    assert stats["annual_return"] == pytest.approx(1.01 * 0.98 * 1.03 - 1)
    assert stats["periods"] == 4.0
    assert stats["calmar"] == pytest.approx(stats["annual_return"] / 0.02)
    assert stats["drawdown_per_volatility"] == pytest.approx(0.02 / stats["annual_volatility"])


def test_performance_without_a_loss_or_a_move_has_zero_ratios():
    rising = performance(np.array([0.01, 0.02, 0.01]), np.zeros(3))
    assert rising["max_drawdown"] == 0.0
    assert rising["calmar"] == 0.0
    assert rising["sortino"] == 0.0
    flat = performance(np.zeros(5), np.zeros(5))
    assert flat["annual_volatility"] == 0.0
    assert flat["sharpe"] == 0.0
    assert flat["drawdown_per_volatility"] == 0.0
    assert flat["hit_rate"] == 0.0
    with pytest.raises(ValueError, match="no periods"):
        performance(np.array([]), np.array([]))


def test_performance_drawdown_counts_a_loss_on_the_first_period():
    returns = np.array([-0.1, 0.05, 0.02, -0.01, 0.03])
    stats = performance(returns, np.zeros(len(returns)))
    assert stats["max_drawdown"] <= -0.1 + 1e-12, "the running peak starts at the starting capital"
    wealth = np.concatenate([[1.0], np.cumprod(1.0 + returns)])
    assert stats["max_drawdown"] == pytest.approx(np.min(wealth / np.maximum.accumulate(wealth) - 1.0))
    assert drawdowns(returns)[0] == pytest.approx(-0.1)
    assert equity_curve(returns)[-1] == pytest.approx(wealth[-1])
    assert stats["calmar"] == pytest.approx(stats["annual_return"] / abs(stats["max_drawdown"]))


def test_performance_ratios_match_numpy():
    returns = np.random.default_rng(7).normal(0.0005, 0.01, 500)
    stats = performance(returns, np.zeros(len(returns)), periods_per_year=252)
    root = np.sqrt(252)
    std = np.std(returns, ddof=1)
    downside = np.sqrt(np.sum(np.minimum(returns, 0.0) ** 2) / (len(returns) - 1))
    assert stats["annual_volatility"] == pytest.approx(std * root, rel=1e-12)
    assert stats["sharpe"] == pytest.approx(np.mean(returns) / std * root, rel=1e-12)
    assert stats["sortino"] == pytest.approx(np.mean(returns) / downside * root, rel=1e-12)
    assert stats["drawdown_per_volatility"] == pytest.approx(abs(stats["max_drawdown"]) / (std * root))
