"""Feature drift: the population stability index of recent feature values against the training window.

PSI = sum over bins of (a - e) * ln(a / e), with bins at the reference's deciles (so each holds
a tenth of the training values) and empty bins floored at a small share. The usual reading:
below 0.1 stable, 0.1 to 0.25 a shift worth a look, above 0.25 a different population. It is a
ten-line formula over ``numpy.quantile`` and ``numpy.histogram``; no library of the stack has it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

PSI_BINS = 10
_FLOOR = 1e-4
"""Share given to an empty bin, so one empty bin cannot make the index infinite."""


def psi(reference: np.ndarray, current: np.ndarray, bins: int = PSI_BINS) -> float:
    """The PSI of ``current`` against ``reference`` (finite values only); NaN when either is empty."""
    reference = reference[np.isfinite(reference)]
    current = current[np.isfinite(current)]
    if reference.size == 0 or current.size == 0:
        return float("nan")
    edges = np.unique(np.quantile(reference, np.linspace(0.0, 1.0, bins + 1)))
    if edges.size < 2:  # a constant reference: any other value is drift
        same = np.mean(current == edges[0])
        expected, actual = np.array([1.0, _FLOOR]), np.array([max(same, _FLOOR), max(1.0 - same, _FLOOR)])
    else:
        edges[0], edges[-1] = -np.inf, np.inf
        expected = np.maximum(np.histogram(reference, edges)[0] / reference.size, _FLOOR)
        actual = np.maximum(np.histogram(current, edges)[0] / current.size, _FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    psi: float
    reference_rows: int
    current_rows: int


def feature_drift(
    features: pl.DataFrame,
    columns: Sequence[str],
    *,
    trained_until: datetime,
    reference_bars: int = 252,
    current_bars: int = 63,
) -> list[FeatureDrift]:
    """PSI of each column over the newest ``current_bars`` bars (after ``trained_until``) against
    the ``reference_bars`` bars the model was trained on up to ``trained_until``; bars are counted
    on the shared timeline of all symbols."""
    times = features["timestamp"].unique().sort()
    trained = times.filter(times <= trained_until)
    after = times.filter(times > trained_until)
    if trained.is_empty() or after.is_empty():
        return []
    reference = features.filter(pl.col("timestamp").is_in(trained.tail(reference_bars).implode()))
    current = features.filter(pl.col("timestamp").is_in(after.tail(current_bars).implode()))
    return [
        FeatureDrift(
            column,
            psi(
                reference[column].to_numpy().astype(np.float64), current[column].to_numpy().astype(np.float64)
            ),
            reference.height,
            current.height,
        )
        for column in columns
        if column in features.columns
    ]
