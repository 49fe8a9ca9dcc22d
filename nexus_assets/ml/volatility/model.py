"""The volatility forecaster (model ``trade-nexus-volatility``): a one-step-ahead variance model.

A log-linear HAR on range-based variance with a leverage term, fitted by minimizing QLIKE:

    log h[t+1] = b0 + b1 log v1[t] + b2 log v5[t] + b3 log v22[t] + b4 min(r[t], 0) / sqrt(v22[t])

where v1, v5, v22 are the Garman-Klass-plus-gap variance of bar t and its 5- and 22-bar means
(see ``volatility_inputs``), each floored at ``floor`` before the log, and r[t] is the bar's log
return. Logs and the normalized leverage term make the inputs scale free, so one coefficient
vector is pooled across symbols. QLIKE is the loss under which variance forecasts are ranked
robustly to noise in the squared-return proxy, and it is convex in b here, so the fit has a
unique optimum that Newton's method reaches deterministically.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl
from scipy.optimize import minimize

from nexus_assets.ml.volatility.inputs import (
    INPUT_COLUMNS,
    TARGET_COLUMN,
    VOL_LOOKBACK_BARS,
    inputs_for_last_bar,
    volatility_inputs,
)
from nexus_assets.ml.volatility.kernel import design_rows, forecast_rows

__all__ = [
    "COEFFICIENT_NAMES",
    "INPUT_COLUMNS",
    "MODEL_NAME",
    "MODEL_VERSION",
    "TARGET_COLUMN",
    "VOL_LOOKBACK_BARS",
    "VolatilityFitError",
    "VolatilityModel",
    "fit_volatility_model",
    "inputs_for_last_bar",
    "qlike",
    "volatility_inputs",
]

MODEL_NAME = "trade-nexus-volatility"
MODEL_VERSION = "har-gk-gap-leverage-qlike/1"
"""Changes whenever the formulation changes, so a stored model is never read with other inputs."""
COEFFICIENT_NAMES: tuple[str, ...] = ("const", "log_var_1", "log_var_5", "log_var_22", "leverage")
MIN_TRAIN_ROWS = 100
FLOOR_FRACTION = 1e-3
"""The variance floor is this fraction of the median 22-bar variance seen in training."""
MIN_FLOOR = 1e-20
_GTOL = 1e-7


class VolatilityFitError(RuntimeError):
    """The QLIKE fit did not converge or gave unusable coefficients; nothing should be registered."""


def _column(inputs: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    return np.asarray(inputs[name], dtype=np.float64)


def _input_columns(inputs: Mapping[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    return tuple(np.ascontiguousarray(_column(inputs, name)) for name in INPUT_COLUMNS)


def design_matrix(inputs: Mapping[str, np.ndarray], floor: float) -> np.ndarray:
    """Regressors in ``COEFFICIENT_NAMES`` order from input arrays (see module docstring)."""
    return design_rows(*_input_columns(inputs), float(floor))


def _check_arrays(inputs: Mapping[str, np.ndarray], source: str) -> None:
    for name in INPUT_COLUMNS:
        values = _column(inputs, name)
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{source}: column '{name}' has missing or non-finite values")
        if name != "ret_1" and np.any(values < 0):
            raise ValueError(f"{source}: column '{name}' has negative variances")


def _arrays_from_frame(inputs: pl.DataFrame, columns: tuple[str, ...], source: str) -> dict[str, np.ndarray]:
    if not isinstance(inputs, pl.DataFrame):
        raise TypeError(f"{source}: expected a polars DataFrame, got {type(inputs).__name__}")
    missing = [c for c in columns if c not in inputs.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s): {', '.join(missing)}")
    arrays: dict[str, np.ndarray] = {}
    for name in columns:
        if not inputs.schema[name].is_numeric():
            raise ValueError(f"{source}: column '{name}' must be numeric, got {inputs.schema[name]}")
        arrays[name] = inputs[name].cast(pl.Float64).to_numpy()
    return arrays


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{field}: expected a number, got {type(value).__name__}")
    return float(value)


@dataclass(frozen=True)
class VolatilityModel:
    """Fitted coefficients plus everything needed to apply them to ``volatility_inputs`` rows."""

    coefficients: tuple[float, ...]
    floor: float
    fitted_rows: int
    input_columns: tuple[str, ...] = INPUT_COLUMNS
    version: str = MODEL_VERSION

    def __post_init__(self) -> None:
        if self.version != MODEL_VERSION:
            raise ValueError(f"version: {self.version!r} is not {MODEL_VERSION!r}")
        if tuple(self.input_columns) != INPUT_COLUMNS:
            raise ValueError(f"input_columns: expected {list(INPUT_COLUMNS)}, got {list(self.input_columns)}")
        if len(self.coefficients) != len(COEFFICIENT_NAMES):
            raise ValueError(f"coefficients: expected {len(COEFFICIENT_NAMES)}, got {len(self.coefficients)}")
        if not all(math.isfinite(b) for b in self.coefficients):
            raise ValueError("coefficients: must be finite")
        if not (math.isfinite(self.floor) and self.floor > 0):
            raise ValueError("floor: must be a positive finite number")
        if self.fitted_rows < 0:
            raise ValueError("fitted_rows: must not be negative")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description, stored as the MLflow artifact that serving loads."""
        return {
            "model": MODEL_NAME,
            "version": self.version,
            "coefficients": dict(zip(COEFFICIENT_NAMES, self.coefficients, strict=True)),
            "floor": self.floor,
            "input_columns": list(self.input_columns),
            "fitted_rows": self.fitted_rows,
            "lookback_bars": VOL_LOOKBACK_BARS,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VolatilityModel:
        """Inverse of ``to_dict``; a stored model of another formulation is refused."""
        missing = [
            k for k in ("coefficients", "floor", "fitted_rows", "input_columns", "version") if k not in data
        ]
        if missing:
            raise ValueError(f"volatility model: missing field {missing[0]!r}")
        if not isinstance(data["input_columns"], list | tuple):
            raise ValueError("input_columns: expected a list of column names")
        coefficients = data["coefficients"]
        if not isinstance(coefficients, Mapping) or set(coefficients) != set(COEFFICIENT_NAMES):
            raise ValueError(f"coefficients: expected keys {list(COEFFICIENT_NAMES)}")
        return cls(
            coefficients=tuple(
                _number(coefficients[name], f"coefficients.{name}") for name in COEFFICIENT_NAMES
            ),
            floor=_number(data["floor"], "floor"),
            fitted_rows=int(_number(data["fitted_rows"], "fitted_rows")),
            input_columns=tuple(str(c) for c in data["input_columns"]),
            version=str(data["version"]),
        )

    @cached_property
    def _coefficients(self) -> np.ndarray:
        return np.asarray(self.coefficients, dtype=np.float64)

    def forecast_arrays(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Next-bar variance forecasts from input arrays, unchecked (the walk-forward hot path)."""
        return forecast_rows(*_input_columns(inputs), float(self.floor), self._coefficients)

    def forecast_variance(self, inputs: pl.DataFrame) -> np.ndarray:
        """Next-bar variance (squared log return, decimal units) for each row of ``inputs``."""
        arrays = _arrays_from_frame(inputs, self.input_columns, "inputs")
        _check_arrays(arrays, "inputs")
        with np.errstate(over="ignore"):
            forecast = self.forecast_arrays(arrays)
        if not np.all(np.isfinite(forecast)):
            raise ValueError("inputs: forecast variance overflows; inputs are far outside the fitted range")
        return forecast


def variance_floor(var_22: np.ndarray) -> float:
    """Floor that scales with the data (bar frequency, price units), so one constant fits all."""
    positive = var_22[var_22 > 0]
    if positive.size == 0:
        return MIN_FLOOR
    return max(FLOOR_FRACTION * float(np.median(positive)), MIN_FLOOR)


def _standardize(design: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centred, scaled regressors (constant columns dropped), for a well-conditioned Newton fit."""
    body = design[:, 1:]
    centre, scale = body.mean(axis=0), body.std(axis=0)
    free = scale > 1e-12 * np.maximum(1.0, np.abs(centre))
    z = (body[:, free] - centre[free]) / scale[free]
    return np.column_stack([np.ones(len(design)), z]), centre, scale, free


def _minimize_qlike(design: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Coefficients minimizing mean(log h + y / h) with log h = design @ b."""
    z, centre, scale, free = _standardize(design)
    n = len(target)

    def objective(b: np.ndarray) -> tuple[float, np.ndarray]:
        log_h = z @ b
        ratio = target * np.exp(-log_h)
        return float(np.mean(log_h + ratio)), z.T @ (1.0 - ratio) / n

    def hessian(b: np.ndarray) -> np.ndarray:
        weight = target * np.exp(-(z @ b))
        return (z.T * weight) @ z / n

    with np.errstate(over="ignore", invalid="ignore"):
        level = float(np.mean(target))
        if not math.isfinite(level):
            raise VolatilityFitError("QLIKE fit: the mean squared return overflows")
        start = np.zeros(z.shape[1])
        start[0] = math.log(level)
        result = minimize(
            objective,
            start,
            jac=True,
            hess=hessian,
            method="trust-exact",
            options={"gtol": _GTOL, "maxiter": 500},
        )
    if not result.success or not np.all(np.isfinite(result.x)):
        raise VolatilityFitError(f"QLIKE fit did not converge: {result.message}")
    slopes = np.zeros(design.shape[1] - 1)
    slopes[free] = result.x[1:] / scale[free]
    intercept = result.x[0] - float(slopes @ np.where(free, centre, 0.0))
    coefficients = np.concatenate([[intercept], slopes])
    if not np.all(np.isfinite(coefficients)):
        raise VolatilityFitError("QLIKE fit produced non-finite coefficients")
    return coefficients


def fit_arrays(inputs: Mapping[str, np.ndarray], target: np.ndarray) -> VolatilityModel:
    """Fit on checked arrays (rows with a known target only); see ``fit_volatility_model``."""
    target = np.asarray(target, dtype=np.float64)
    if len(target) < MIN_TRAIN_ROWS:
        raise ValueError(
            f"inputs: {len(target)} rows with a known target, the fit needs at least {MIN_TRAIN_ROWS}"
        )
    if not np.any(target > 0):
        raise ValueError(f"{TARGET_COLUMN}: every squared return is zero (constant prices); nothing to fit")
    floor = variance_floor(_column(inputs, INPUT_COLUMNS[3]))
    # Runs of unchanged closes would otherwise let the fit push forecasts towards zero without bound.
    coefficients = _minimize_qlike(design_matrix(inputs, floor), np.maximum(target, floor))
    return VolatilityModel(
        coefficients=tuple(float(b) for b in coefficients), floor=floor, fitted_rows=len(target)
    )


def fit_volatility_model(inputs: pl.DataFrame) -> VolatilityModel:
    """One coefficient vector for all symbols, by QLIKE minimization on rows with a known target.

    Deterministic. Raises ValueError for unusable inputs (missing columns, non-finite values,
    fewer than ``MIN_TRAIN_ROWS`` rows, constant prices) and VolatilityFitError when the
    optimizer fails.
    """
    arrays = _arrays_from_frame(inputs, (*INPUT_COLUMNS, TARGET_COLUMN), "inputs")
    known = ~np.isnan(arrays[TARGET_COLUMN])
    rows = {name: values[known] for name, values in arrays.items()}
    _check_arrays(rows, "inputs")
    target = rows.pop(TARGET_COLUMN)
    if not np.all(np.isfinite(target)) or np.any(target < 0):
        raise ValueError(f"inputs: column '{TARGET_COLUMN}' must be finite and not negative")
    return fit_arrays(rows, target)


def qlike(forecast: np.ndarray, squared_return: np.ndarray) -> float:
    """Mean QLIKE loss, mean(log h + r^2 / h): lower is better; robust to the noisy r^2 proxy."""
    h = np.asarray(forecast, dtype=np.float64)
    y = np.asarray(squared_return, dtype=np.float64)
    if h.shape != y.shape or h.ndim != 1:
        raise ValueError(f"qlike: forecast {h.shape} and squared_return {y.shape} must be equal 1-D shapes")
    if h.size == 0:
        raise ValueError("qlike: no observations")
    if not np.all(np.isfinite(h)) or np.any(h <= 0):
        raise ValueError("qlike: forecasts must be positive and finite")
    if not np.all(np.isfinite(y)) or np.any(y < 0):
        raise ValueError("qlike: squared returns must be finite and not negative")
    return float(np.mean(np.log(h) + y / h))
