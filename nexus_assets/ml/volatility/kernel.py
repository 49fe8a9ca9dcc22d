"""The volatility model's regressors and forecast, compiled: one implementation for fit and serving.

The regressors of a row are a handful of scalar operations; as NumPy on one serving row they
were a dozen array calls (about 25 µs, twice that with cold caches). ``design_rows`` builds
them for the fit (``design_matrix``) and ``forecast_rows`` applies the coefficients to the very
same row values, so training, walk-forward and serving share every floating-point operation.
"""

from __future__ import annotations

import math

import numba
import numpy as np

N_REGRESSORS = 5
"""const, log v1, log v5, log v22, leverage (``volatility.COEFFICIENT_NAMES``)."""


@numba.njit(cache=True, nogil=True, inline="always")
def _floored(value: float, floor: float) -> float:
    """``np.maximum(value, floor)``: NaN stays NaN."""
    return value if (value >= floor or value != value) else floor


@numba.njit(cache=True, nogil=True, inline="always")
def _row(ret: float, var_1: float, var_5: float, var_22: float, floor: float, out: np.ndarray) -> None:
    v22 = _floored(var_22, floor)
    out[0] = 1.0
    out[1] = math.log(_floored(var_1, floor))
    out[2] = math.log(_floored(var_5, floor))
    out[3] = math.log(v22)
    out[4] = (ret if (ret <= 0.0 or ret != ret) else 0.0) / math.sqrt(v22)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def design_rows(
    ret: np.ndarray, var_1: np.ndarray, var_5: np.ndarray, var_22: np.ndarray, floor: float
) -> np.ndarray:
    """Regressors per row, in ``COEFFICIENT_NAMES`` order (rows x 5)."""
    out = np.empty((ret.shape[0], N_REGRESSORS))
    for i in range(ret.shape[0]):
        _row(ret[i], var_1[i], var_5[i], var_22[i], floor, out[i])
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")
def forecast_rows(
    ret: np.ndarray,
    var_1: np.ndarray,
    var_5: np.ndarray,
    var_22: np.ndarray,
    floor: float,
    coefficients: np.ndarray,
) -> np.ndarray:
    """``exp(design_rows(...) @ coefficients)``, the log-linear sum taken in regressor order."""
    out = np.empty(ret.shape[0])
    row = np.empty(N_REGRESSORS)
    for i in range(ret.shape[0]):
        _row(ret[i], var_1[i], var_5[i], var_22[i], floor, row)
        total = 0.0
        for k in range(N_REGRESSORS):
            total += row[k] * coefficients[k]
        out[i] = math.exp(total)
    return out
