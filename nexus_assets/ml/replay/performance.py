"""Performance statistics of a return series, one definition for every report.

skfolio's measures do the work (moments, downside deviation, drawdowns): one tested
definition instead of hand-written formulas, and its drawdowns measure from the starting
capital, so a loss on the first bars counts. skfolio reports max drawdown as a positive
loss; here it is a negative fraction (-0.12 is a 12% fall from the running peak).
"""

from __future__ import annotations

import math

import numpy as np
from skfolio import measures


def equity_curve(returns: np.ndarray) -> np.ndarray:
    """Wealth after each period, starting from 1.0 (the starting capital is not in the array)."""
    return measures.get_cumulative_returns(returns, compounded=True)


def drawdowns(returns: np.ndarray) -> np.ndarray:
    """Fall of wealth from its running peak after each period (<= 0); the peak starts at the
    starting capital 1.0, so a loss on the first period is a drawdown."""
    return measures.get_drawdowns(returns, compounded=True)


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else 0.0


def performance(returns: np.ndarray, turnover: np.ndarray, periods_per_year: int = 252) -> dict[str, float]:
    """Annual return (geometric), volatility, Sharpe and Sortino (zero risk-free rate; sample
    moments, downside deviation below 0), max drawdown (negative), Calmar (annual return /
    |max drawdown|), max drawdown per unit of annual volatility, annual turnover (sum of
    |weight changes|) and hit rate (share of up periods among periods that moved). Ratios
    with a zero denominator are 0; with one period there is no volatility (0)."""
    returns = np.asarray(returns, dtype=float)
    if len(returns) == 0:
        raise ValueError("returns: no periods to evaluate")
    if not np.isfinite(returns).all():
        raise ValueError("returns: not all finite")
    years = len(returns) / periods_per_year
    final = float(equity_curve(returns)[-1])
    mean = float(measures.mean(returns))
    std = float(np.nan_to_num(measures.standard_deviation(returns)))  # NaN with one period
    downside = float(np.nan_to_num(measures.semi_deviation(returns, min_acceptable_return=0.0)))
    max_drawdown = 0.0 - float(measures.max_drawdown(drawdowns(returns)))  # skfolio's is a positive loss
    moved = returns != 0
    root = math.sqrt(periods_per_year)
    annual_return = final ** (1.0 / years) - 1.0 if final > 0 else -1.0
    annual_volatility = std * root
    return {
        "annual_return": annual_return,
        "annual_volatility": annual_volatility,
        "sharpe": _ratio(mean, std) * root,
        "sortino": _ratio(mean, downside) * root,
        "max_drawdown": max_drawdown,
        "calmar": _ratio(annual_return, abs(max_drawdown)),
        "drawdown_per_volatility": _ratio(abs(max_drawdown), annual_volatility),
        "annual_turnover": float(np.sum(turnover)) / years,
        "hit_rate": float((returns[moved] > 0).mean()) if moved.any() else 0.0,
        "periods": float(len(returns)),
    }
