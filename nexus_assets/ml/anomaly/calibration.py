"""Calibration of raw isolation scores to the empirical CDF of the training scores.

A raw isolation score (in (0, 1], ~0.5 for ordinary rows) has no fixed meaning across models;
its rank among the training rows does. The calibrated score is the fraction of training rows
whose raw score is at or below it, so 0.99 reads "more anomalous than 99% of training rows"
for every model version, and one threshold can gate champions and challengers alike.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_KNOTS = 1001
"""Quantile knots kept; enough for a resolution of 0.1 percentile, small enough to store in JSON."""


@dataclass(frozen=True, eq=False)
class ScoreCalibration:
    """Piecewise-linear empirical CDF through (raw score, level) knots, strictly increasing in raw."""

    raw: np.ndarray
    level: np.ndarray
    _knots: tuple[list[float], list[float]] = field(init=False, repr=False)
    """``raw`` and ``level`` as Python floats for ``one``: bisecting a list beats any NumPy call on one value."""

    def __post_init__(self) -> None:
        knots = (
            np.asarray(self.raw, dtype=np.float64).tolist(),
            np.asarray(self.level, dtype=np.float64).tolist(),
        )
        object.__setattr__(self, "_knots", knots)

    @classmethod
    def fit(cls, raw_scores: np.ndarray, *, max_knots: int = MAX_KNOTS) -> ScoreCalibration:
        """Knots at evenly spaced quantiles of the training raw scores (higher = more anomalous)."""
        scores = np.sort(np.asarray(raw_scores, dtype=np.float64))
        if scores.size < 2 or not np.isfinite(scores).all():
            raise ValueError("raw_scores: need at least 2 finite training scores to calibrate")
        n = scores.size
        knots = np.quantile(scores, np.linspace(0.0, 1.0, min(n, max_knots)), method="inverted_cdf")
        raw = np.unique(knots)
        # The empirical CDF at each knot: the share of training rows at or below it.
        level = np.searchsorted(scores, raw, side="right") / n
        return cls(raw=raw, level=level)

    def __call__(self, raw_scores: np.ndarray | float) -> np.ndarray:
        """Calibrated scores in [0, 1], non-decreasing in the raw score; 1 beyond the training maximum."""
        values = np.asarray(raw_scores, dtype=np.float64)
        if self.raw.size == 1:
            return np.where(values >= self.raw[0], 1.0, 0.0)
        below_min = values < self.raw[0]
        out = np.interp(values, self.raw, self.level, left=0.0, right=1.0)
        return np.where(below_min, 0.0, out)

    def one(self, raw_score: float) -> float:
        """``__call__`` for one raw score (the serving path), in the arithmetic of ``np.interp``.

        Same branches and float operations as NumPy's C loop, so the result is the same bits;
        ``tests/ml/test_anomaly.py`` checks this on random and edge values.
        """
        x = float(raw_score)
        raw, level = self._knots
        if len(raw) == 1:
            return 1.0 if x >= raw[0] else 0.0
        if x != x:  # NaN passes through np.interp and np.where
            return x
        if x < raw[0]:
            return 0.0
        if x > raw[-1]:
            return 1.0
        j = bisect_right(raw, x) - 1  # raw[j] <= x < raw[j + 1], or j = last at the maximum
        if j == len(raw) - 1 or raw[j] == x:
            return level[j]
        slope = (level[j + 1] - level[j]) / (raw[j + 1] - raw[j])
        out = slope * (x - raw[j]) + level[j]
        if out != out:  # np.interp's fallback when one direction gives NaN
            out = slope * (x - raw[j + 1]) + level[j + 1]
            if out != out and level[j] == level[j + 1]:
                out = level[j]
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"calibration_raw": self.raw, "calibration_level": self.level}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any]) -> ScoreCalibration:
        try:
            raw = np.asarray(arrays["calibration_raw"], dtype=np.float64)
            level = np.asarray(arrays["calibration_level"], dtype=np.float64)
        except KeyError as exc:
            raise ValueError(f"calibration arrays: missing {exc.args[0]!r}") from exc
        if raw.shape != level.shape or raw.size == 0:
            raise ValueError("calibration arrays: raw and level must be non-empty and the same length")
        return cls(raw=raw, level=level)
