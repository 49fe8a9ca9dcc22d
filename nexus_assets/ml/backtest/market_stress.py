"""A market-wide anomaly score from closes alone, for replays where no richer data exists.

Each bar, the cross-sectional mean of |return| / (previous bar's volatility forecast) measures
how violent the market moved; its percentile among every earlier bar (expanding, so causal)
is the score in [0, 1], on the same scale as the anomaly detector's calibrated score.
"""

from __future__ import annotations

import bisect

import numpy as np

MIN_HISTORY = 60


def market_stress_scores(log_returns: np.ndarray, volatility: np.ndarray) -> np.ndarray:
    """Score per bar; row t uses returns up to bar t and volatility forecasts up to bar t-1."""
    n_bars = log_returns.shape[0]
    surprise = np.full(n_bars, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.abs(log_returns[1:]) / volatility[:-1]
    valid = np.isfinite(z)
    counts = valid.sum(axis=1)
    surprise[1:] = np.where(counts > 0, np.where(valid, z, 0.0).sum(axis=1) / np.maximum(counts, 1), np.nan)
    scores = np.zeros(n_bars)
    seen: list[float] = []
    for t in range(n_bars):
        value = float(surprise[t])
        if not np.isfinite(value):
            continue
        if len(seen) >= MIN_HISTORY:
            scores[t] = bisect.bisect_right(seen, value) / (len(seen) + 1)
        bisect.insort(seen, value)
    return scores
