"""Expected returns from prices alone: a ridge model over trend and reversal features.

The backtest replays the policy on data that may hold nothing but closes (the `nexus backtest`
CLI), so its return model needs only closes: volatility-scaled momentum (12-1 and 6-1 months),
the last month and week, and the distance from the 200-bar average. It is pooled across
symbols, predicts the next 21 bars' volatility-scaled return, and is refitted on an expanding
window by the backtest's schedule, using only targets that were known at the refit date.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import Ridge

HORIZON = 21
LOOKBACK = 252
"""Bars of history a symbol needs before it has features."""
FEATURE_NAMES: tuple[str, ...] = ("mom_12_1", "mom_6_1", "ret_21", "ret_5", "ma200_gap")
SAMPLE_STEP = 5


def ewma_volatility(log_returns: np.ndarray, decay: float = 0.94) -> np.ndarray:
    """Per-bar volatility forecast at each close (RiskMetrics EWMA of squared returns); causal.

    Row t uses returns up to and including bar t; NaN returns (not trading yet) keep NaN.
    """
    variance = np.full(log_returns.shape, np.nan)
    state = np.full(log_returns.shape[1], np.nan)
    for t, row in enumerate(log_returns):
        fresh = np.isnan(state) & ~np.isnan(row)
        state = np.where(fresh, row**2, state)
        state = np.where(~np.isnan(row), decay * state + (1.0 - decay) * row**2, state)
        variance[t] = state
    return np.sqrt(np.maximum(variance, 1e-12))


def trend_features(log_prices: np.ndarray, volatility: np.ndarray) -> np.ndarray:
    """Features [bars, symbols, 5]; row t uses closes up to bar t only, NaN where history is short."""
    n_bars, n_symbols = log_prices.shape
    out = np.full((n_bars, n_symbols, len(FEATURE_NAMES)), np.nan)
    if n_bars <= LOOKBACK:
        return out
    p = log_prices
    t = np.arange(LOOKBACK, n_bars)
    cumulative = np.vstack([np.zeros(n_symbols), np.cumsum(p, axis=0)])
    moving_average = (cumulative[t + 1] - cumulative[t - 199]) / 200.0
    columns = [
        (p[t - 21] - p[t - 252]) / math.sqrt(231),
        (p[t - 21] - p[t - 126]) / math.sqrt(105),
        (p[t] - p[t - 21]) / math.sqrt(21),
        (p[t] - p[t - 5]) / math.sqrt(5),
        p[t] - moving_average,
    ]
    out[LOOKBACK:] = np.stack(columns, axis=-1) / volatility[t][:, :, None]
    return out


def forward_targets(log_prices: np.ndarray, volatility: np.ndarray) -> np.ndarray:
    """The 21-bar volatility-scaled return after each bar (NaN for the last 21 bars)."""
    targets = np.full(log_prices.shape, np.nan)
    targets[:-HORIZON] = (log_prices[HORIZON:] - log_prices[:-HORIZON]) / (
        volatility[:-HORIZON] * math.sqrt(HORIZON)
    )
    return targets


@dataclass
class TrendReturnModel:
    """Ridge over ``FEATURE_NAMES``; ``predict`` gives expected per-bar log returns.

    ``features`` and ``targets`` come from ``trend_features``/``forward_targets`` on the whole
    history once; ``fit(t)`` then only reads targets that ended by bar t, so nothing leaks.
    """

    features: np.ndarray
    targets: np.ndarray
    volatility: np.ndarray
    alpha: float = 100.0
    shrink: float = 0.2
    """Share of the raw prediction kept: forecasts of returns deserve heavy shrinkage."""
    model: Ridge | None = None
    fitted_until: int = -1

    def fit(self, t: int) -> None:
        """Fit on samples whose 21-bar target was fully known at the close of bar t."""
        last = t - HORIZON
        samples = np.arange(LOOKBACK, last + 1, SAMPLE_STEP)
        self.fitted_until = t
        if len(samples) == 0:
            self.model = None
            return
        x = self.features[samples].reshape(-1, len(FEATURE_NAMES))
        y = self.targets[samples].reshape(-1)
        keep = np.isfinite(x).all(axis=1) & np.isfinite(y)
        self.model = Ridge(alpha=self.alpha).fit(x[keep], y[keep]) if keep.sum() >= 50 else None

    def predict(self, t: int) -> np.ndarray:
        x = self.features[t]
        out = np.zeros(x.shape[0])
        ok = np.isfinite(x).all(axis=1)
        if self.model is not None and ok.any():
            z = self.model.predict(x[ok])
            out[ok] = self.shrink * z * self.volatility[t][ok] / math.sqrt(HORIZON)
        return out
