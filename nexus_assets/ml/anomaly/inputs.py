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
from collections.abc import Mapping, Sequence
from typing import Any

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
_RET_1, _RET_5, _RV_21, _PARKINSON_21, _HL_RANGE, _VOLUME_Z_21, _MA_GAP_21 = (
    _COLUMN[name] for name in REQUIRED_FEATURES
)
_SQRT_5 = math.sqrt(5.0)


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
        return np.array([feature_row(features)])
    else:
        raise ValueError(f"features: expected a polars DataFrame or a mapping, got {type(features).__name__}")
    _check_finite(matrix)
    return matrix


def feature_row(features: Mapping[str, Any]) -> list[float]:
    """One mapping's ``REQUIRED_FEATURES`` as floats, checked with ``feature_matrix``'s messages.

    The serving path: seven Python floats cost a fraction of building and checking an array.
    """
    if not isinstance(features, Mapping):
        raise ValueError(f"features: expected a polars DataFrame or a mapping, got {type(features).__name__}")
    missing = [c for c in REQUIRED_FEATURES if c not in features]
    if missing:
        raise ValueError(f"features: missing column(s) {', '.join(map(repr, missing))}")
    row = []
    non_finite = None
    for name in REQUIRED_FEATURES:
        value = features[name]
        if type(value) is not float:
            if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
                raise ValueError(f"features: column {name!r} is {value!r}, not a number")
            value = float(value)
        if non_finite is None and not math.isfinite(value):
            non_finite = name
        row.append(value)
    # Raised after the loop, as ``feature_matrix`` does: a non-number is reported before a NaN.
    if non_finite is not None:
        raise ValueError(f"features: column {non_finite!r} has 1 non-finite value(s) (NaN, inf or null)")
    return row


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


def model_input_row(row: Sequence[float]) -> np.ndarray:
    """``model_inputs`` of one ``feature_row``: the same float operations, without a dozen array calls.

    Division and ``max`` on Python floats are the IEEE operations NumPy applies element-wise;
    the logarithms stay NumPy's, whose vectorised ``log`` can differ from ``math.log`` in the
    last bit. ``tests/ml/test_anomaly.py`` holds the two paths equal on random rows.
    """
    vol = max(row[_RV_21], VOL_FLOOR)
    inputs = np.array(
        [
            row[_RET_1] / vol,
            row[_RET_5] / (vol * _SQRT_5),
            max(row[_HL_RANGE], RANGE_FLOOR) / max(row[_PARKINSON_21], VOL_FLOOR),
            vol,
            row[_VOLUME_Z_21],
            row[_MA_GAP_21] / vol,
        ]
    )
    np.log(inputs[2:4], out=inputs[2:4])
    return inputs


def column(matrix: np.ndarray, name: str) -> np.ndarray:
    """One required feature column of a ``feature_matrix``."""
    return np.atleast_2d(matrix)[:, _COLUMN[name]]


def first_value(matrix: np.ndarray, name: str) -> float:
    """``float(column(matrix, name)[0])`` without the array wrapping, for one-row paths."""
    index = _COLUMN[name]
    return matrix.item(index) if matrix.ndim == 1 else matrix.item(0, index)
