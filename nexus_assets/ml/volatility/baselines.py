"""Baseline variance forecasts the model must beat: GARCH(1,1) (via ``arch``) and EWMA (RiskMetrics).

Both take one symbol's log returns in time order; ``origins`` index that array, and the
forecast for origin i is made at the close of the bar of ``returns[i]`` (so it may use
``returns[:i + 1]``) for ``returns[i + 1] ** 2``. Kept apart from ``volatility`` so that
serving, which needs only the model, never imports ``arch`` (and pandas with it).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from arch import arch_model
from arch.univariate.base import ARCHModel, ARCHModelResult
from arch.utility.exceptions import DataScaleWarning, StartingValueWarning
from scipy.signal import lfilter

RISKMETRICS_LAMBDA = 0.94
MIN_GARCH_OBS = 100
_SCALE = 100.0
"""arch's optimizer is tuned for returns in percent; forecasts are unscaled back to decimals."""


def ewma_forecasts(returns: np.ndarray, lam: float = RISKMETRICS_LAMBDA) -> np.ndarray:
    """EWMA variance after each return: sum_j lam^j r[i-j]^2 / sum_j lam^j over j = 0..i.

    The normalized (adjusted) weights need no starting value, so nothing before the first
    return, and nothing after return i, enters forecast i.
    """
    r = _checked_returns(returns)
    if not 0.0 < lam < 1.0:
        raise ValueError(f"lam: must be in (0, 1), got {lam}")
    weighted = lfilter([1.0], [1.0, -lam], r**2)
    weights = lfilter([1.0], [1.0, -lam], np.ones_like(r))
    return weighted / weights


def _checked_returns(returns: np.ndarray) -> np.ndarray:
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1 or r.size == 0:
        raise ValueError("returns: expected a non-empty 1-D array")
    if not np.all(np.isfinite(r)):
        raise ValueError("returns: values must be finite")
    return r


def refit_schedule(origins: np.ndarray, refit_every: int) -> np.ndarray:
    """Which origins refit: the first, then the first at least ``refit_every`` bars after the last refit."""
    if refit_every < 1:
        raise ValueError(f"refit_every: must be at least 1, got {refit_every}")
    flags = np.zeros(len(origins), dtype=bool)
    last: int | None = None
    for i, origin in enumerate(origins):
        if last is None or origin - last >= refit_every:
            flags[i], last = True, int(origin)
    return flags


def _checked_origins(origins: np.ndarray, n: int, window: int | None) -> np.ndarray:
    o = np.asarray(origins, dtype=np.int64)
    if o.ndim != 1 or o.size == 0:
        raise ValueError("origins: expected a non-empty 1-D array of indexes")
    if np.any(np.diff(o) <= 0) or o[-1] >= n:
        raise ValueError(f"origins: must be increasing indexes below {n}")
    if window is not None and window < MIN_GARCH_OBS:
        raise ValueError(f"window: must be at least {MIN_GARCH_OBS} returns, got {window}")
    if o[0] + 1 < MIN_GARCH_OBS:
        raise ValueError(f"origins: the first origin has {o[0] + 1} returns, GARCH needs {MIN_GARCH_OBS}")
    return o


def _fit(model: ARCHModel, last_obs: int, previous: np.ndarray | None) -> ARCHModelResult:
    """Fit on the first ``last_obs`` rows; a failed fit is retried from the last converged estimates."""
    result = model.fit(last_obs=last_obs, disp="off", show_warning=False)
    if result.convergence_flag != 0 and previous is not None:
        retry = model.fit(last_obs=last_obs, disp="off", show_warning=False, starting_values=previous)
        if retry.convergence_flag == 0 or retry.loglikelihood > result.loglikelihood:
            result = retry
    return result


def _fit_and_forecast(
    scaled: np.ndarray, origin: int, block: np.ndarray, window: int | None, previous: np.ndarray | None
) -> tuple[np.ndarray, ARCHModelResult]:
    """Fit on returns up to ``origin`` (inclusive), then one-step forecasts at each block origin."""
    first = 0 if window is None else max(0, origin + 1 - window)
    model = arch_model(
        scaled[first : block[-1] + 1], mean="Zero", vol="GARCH", p=1, q=1, dist="normal", rescale=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataScaleWarning)
        warnings.simplefilter("ignore", StartingValueWarning)  # arch then falls back to its own
        result = _fit(model, origin + 1 - first, previous)
        forecast = result.forecast(horizon=1, start=origin - first, reindex=False)
    # Row k of the forecast block is made at index origin + k with data up to and including it.
    variance = forecast.variance.to_numpy()[:, 0]
    return variance[block - origin] / _SCALE**2, result


def garch11_forecasts(
    returns: np.ndarray,
    origins: np.ndarray,
    refit_every: int = 21,
    *,
    window: int | None = None,
    refits: np.ndarray | None = None,
    on_refit: Callable[[bool], None] | None = None,
) -> np.ndarray:
    """GARCH(1,1) (zero mean, normal) one-step variance forecasts at ``origins``.

    Parameters are estimated at each refit origin on the returns up to and including it (all of
    them, or the last ``window``) and held fixed until the next refit. ``refits`` (one flag per
    origin, first set) overrides the ``refit_every`` schedule so callers can align refit dates.
    ``on_refit`` hears after each fit whether the optimizer converged (arch's last iterate is
    used either way).
    arch's loose variance bounds are computed over each forecast block; they never bind.
    """
    r = _checked_returns(returns)
    o = _checked_origins(origins, len(r), window)
    flags = refit_schedule(o, refit_every) if refits is None else np.asarray(refits, dtype=bool)
    if flags.shape != o.shape or not flags[0]:
        raise ValueError("refits: one flag per origin is needed, and the first origin must refit")
    starts = np.flatnonzero(flags)
    ends = np.append(starts[1:], len(o))
    scaled = r * _SCALE
    out = np.empty(len(o))
    previous: np.ndarray | None = None
    for start, end in zip(starts, ends, strict=True):
        out[start:end], result = _fit_and_forecast(scaled, int(o[start]), o[start:end], window, previous)
        if result.convergence_flag == 0:
            previous = result.params.to_numpy()
        if on_refit is not None:
            on_refit(result.convergence_flag == 0)
    if not np.all(np.isfinite(out)) or np.any(out <= 0):
        raise ValueError("returns: GARCH(1,1) produced non-finite or non-positive variances")
    return out
