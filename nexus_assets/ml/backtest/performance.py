"""Performance statistics of a daily return series, one definition for every report."""

from __future__ import annotations

import math

import numpy as np


def equity_curve(returns: np.ndarray) -> np.ndarray:
    return np.cumprod(1.0 + returns)


def drawdowns(returns: np.ndarray) -> np.ndarray:
    curve = equity_curve(returns)
    return curve / np.maximum.accumulate(curve) - 1.0


def performance(returns: np.ndarray, turnover: np.ndarray, periods_per_year: int = 252) -> dict[str, float]:
    """Annual return (geometric), volatility, Sharpe and Sortino (zero risk-free rate), max drawdown,
    annual turnover (sum of |weight changes|) and hit rate (share of up days among days that moved)."""
    if len(returns) == 0:
        raise ValueError("returns: no periods to evaluate")
    years = len(returns) / periods_per_year
    final = float(equity_curve(returns)[-1])
    std = float(returns.std())
    downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)))
    moved = returns != 0
    root = math.sqrt(periods_per_year)
    return {
        "annual_return": final ** (1.0 / years) - 1.0 if final > 0 else -1.0,
        "annual_volatility": std * root,
        "sharpe": float(returns.mean()) / std * root if std > 0 else 0.0,
        "sortino": float(returns.mean()) / downside * root if downside > 0 else 0.0,
        "max_drawdown": float(drawdowns(returns).min()),
        "annual_turnover": float(turnover.sum()) / years,
        "hit_rate": float((returns[moved] > 0).mean()) if moved.any() else 0.0,
        "periods": float(len(returns)),
    }
