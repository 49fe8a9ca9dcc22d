"""The anomaly model's inputs: scale-free transforms of a few feature columns.

One forest is trained on all symbols pooled, so its inputs must mean the same thing for a
quiet utility stock and a volatile chip maker. Moves are therefore measured in units of the
symbol's own recent volatility (``rv_21``), the bar's range against its recent average range
(``parkinson_21``, on a log scale), and volume by its own z-score. Only the volatility level itself is kept in
absolute terms (as a log): a market that is several times more volatile than usual is what the
gate is for, whichever symbol it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import polars as pl

REQUIRED_FEATURES: tuple[str, ...] = (
    "ret_1",
    "ret_5",
    "rv_21",
    "parkinson_21",
    "hl_range",
    "volume_z_21",
    "ma_gap_21",
)
"""Feature columns (``nexus_assets.ml.features``) the model and the feature-level rules read."""

MODEL_INPUTS: tuple[str, ...] = (
    "move_z",
    "move_5_z",
    "log_range_ratio",
    "log_vol",
    "volume_z",
    "trend_gap_z",
)
"""move_z = ret_1 / rv_21: the last bar's move in volatility units (price spikes, bad ticks).
move_5_z = ret_5 / (rv_21 * sqrt 5): a week's move, same units (crashes, squeezes).
log_range_ratio = log(max(hl_range, RANGE_FLOOR) / parkinson_21): today's high-low range
    against the recent range (volatility bursts, bad high/low prints). On a log scale a frozen
    bar (high = low) lands far below every real bar instead of just under the smallest ones,
    which is what lets the forest isolate it quickly.
log_vol = log rv_21: the volatility level (stress regimes).
volume_z = volume_z_21: log-volume surprise (volume shocks, dried-up trading).
trend_gap_z = ma_gap_21 / rv_21: distance from the 21-bar mean in volatility units."""

VOL_FLOOR = 1e-8
"""Lower bound on volatilities used as denominators, so a frozen price gives 0, not inf or NaN."""
RANGE_FLOOR = 1e-4
"""Smallest high-low log range taken at face value (0.01%, below any real daily bar's range)."""

_COLUMN = {name: i for i, name in enumerate(REQUIRED_FEATURES)}


def _check_finite(matrix: np.ndarray) -> None:
    bad = ~np.isfinite(matrix)
    if bad.any():
        counts = bad.sum(axis=0)
        column = int(np.argmax(counts > 0))
        raise ValueError(
            f"features: column {REQUIRED_FEATURES[column]!r} has {int(counts[column])} "
            "non-finite value(s) (NaN, inf or null)"
        )


def feature_matrix(features: pl.DataFrame | Mapping[str, float]) -> np.ndarray:
    """The required feature columns as a float64 matrix (rows x ``REQUIRED_FEATURES``), checked.

    Raises ValueError naming a missing, non-numeric or non-finite column.
    """
    if isinstance(features, pl.DataFrame):
        present = set(features.columns)
        missing = [c for c in REQUIRED_FEATURES if c not in present]
        if missing:
            raise ValueError(f"features: missing column(s) {', '.join(map(repr, missing))}")
        # Column by column: a polars ``select`` costs ~0.1 ms, which the serving path cannot spare.
        columns = [features.get_column(name) for name in REQUIRED_FEATURES]
        for name, series in zip(REQUIRED_FEATURES, columns, strict=True):
            if not series.dtype.is_numeric():
                raise ValueError(f"features: column {name!r} is {series.dtype}, not numeric")
        matrix = np.column_stack(
            [(s if s.dtype == pl.Float64 else s.cast(pl.Float64)).to_numpy() for s in columns]
        ).astype(np.float64, copy=False)
    elif isinstance(features, Mapping):
        missing = [c for c in REQUIRED_FEATURES if c not in features]
        if missing:
            raise ValueError(f"features: missing column(s) {', '.join(map(repr, missing))}")
        row = []
        for name in REQUIRED_FEATURES:
            value = features[name]
            if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
                raise ValueError(f"features: column {name!r} is {value!r}, not a number")
            row.append(float(value))
        matrix = np.array([row])
    else:
        raise ValueError(f"features: expected a polars DataFrame or a mapping, got {type(features).__name__}")
    _check_finite(matrix)
    return matrix


def model_inputs(matrix: np.ndarray) -> np.ndarray:
    """``MODEL_INPUTS`` per row from a ``feature_matrix``."""
    m = np.atleast_2d(matrix)
    vol = np.maximum(m[:, _COLUMN["rv_21"]], VOL_FLOOR)
    range_scale = np.maximum(m[:, _COLUMN["parkinson_21"]], VOL_FLOOR)
    return np.column_stack(
        [
            m[:, _COLUMN["ret_1"]] / vol,
            m[:, _COLUMN["ret_5"]] / (vol * math.sqrt(5.0)),
            np.log(np.maximum(m[:, _COLUMN["hl_range"]], RANGE_FLOOR) / range_scale),
            np.log(vol),
            m[:, _COLUMN["volume_z_21"]],
            m[:, _COLUMN["ma_gap_21"]] / vol,
        ]
    )


def column(matrix: np.ndarray, name: str) -> np.ndarray:
    """One required feature column of a ``feature_matrix``."""
    return np.atleast_2d(matrix)[:, _COLUMN[name]]
