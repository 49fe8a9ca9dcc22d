"""Per-period covariance for the optimizer: a Ledoit-Wolf-shrunk correlation scaled by volatilities.

Shrinking the correlation rather than the covariance keeps each symbol's variance exactly what
the volatility forecaster (or the sample) says, while Ledoit-Wolf pulls the noisy co-movements
toward zero by the amount its estimate of their sampling error calls for.

Rules, in the order they apply:

* A return that is NaN or infinite is missing (the symbol had not traded yet, or the bar is bad).
* Volatility: a finite, positive forecast when given; otherwise the sample standard deviation
  (ddof=1) of the symbol's available returns, which needs at least two of them. A symbol with
  neither gets the largest volatility among the others: unknown risk is priced as high risk.
  Every volatility is floored at ``VOL_FLOOR_FRACTION`` of the cross-sectional median (and at
  ``MIN_VOL``), so a constant price never yields a zero variance.
* Correlation: a symbol with fewer than ``MIN_CORRELATION_OBSERVATIONS`` available returns, or
  with a constant price, is uncorrelated with every other symbol. The others are standardized on
  their own available history and a missing return is replaced by the symbol's mean, i.e. it adds
  nothing to any co-moment; each column is then scaled to unit variance over the common window.
  The sample correlation of symbols i and j is therefore the sum of their co-moments over the bars
  both traded divided by sqrt(n_i n_j), which equals the usual correlation on complete data and
  pulls a young symbol's correlations toward zero by the share of history it misses. That matrix
  is a Gram matrix (positive semi-definite by construction), and scikit-learn's ``LedoitWolf`` is
  fitted on exactly those columns.
* If the shrunk correlation's smallest eigenvalue is below ``MIN_CORRELATION_EIGENVALUE``, it is
  blended with the identity just enough to lift it there (a ridge that keeps the unit diagonal),
  so the result is symmetric positive definite and has a Cholesky factor.
"""

from __future__ import annotations

import numpy as np
from sklearn.covariance import LedoitWolf

__all__ = [
    "MIN_CORRELATION_EIGENVALUE",
    "MIN_CORRELATION_OBSERVATIONS",
    "MIN_VOL",
    "VOL_FLOOR_FRACTION",
    "sample_volatilities",
    "shrunk_correlation",
    "shrunk_covariance",
]

MIN_CORRELATION_OBSERVATIONS = 20
"""Fewer returns than this give correlations too noisy to use; such a symbol is uncorrelated."""
MIN_VOL = 1e-12
VOL_FLOOR_FRACTION = 1e-3
MIN_CORRELATION_EIGENVALUE = 1e-8


def shrunk_covariance(returns: np.ndarray, vol_forecast: np.ndarray | None = None) -> np.ndarray:
    """Covariance [N, N] of per-period returns [T, N] (NaN where missing); see the module rules.

    ``vol_forecast`` holds per-period standard deviations; its non-finite or non-positive entries
    fall back to the sample volatility. Raises ``ValueError`` when no symbol has a usable volatility.
    """
    data = _checked_returns(returns)
    vols = _volatilities(data, vol_forecast)
    corr = shrunk_correlation(data)
    cov = vols[:, None] * corr * vols[None, :]
    return 0.5 * (cov + cov.T)


def sample_volatilities(returns: np.ndarray) -> np.ndarray:
    """Sample standard deviation (ddof=1) per column over its finite values; NaN below two values."""
    data = _checked_returns(returns)
    finite = np.isfinite(data)
    counts = finite.sum(axis=0)
    filled = np.where(finite, data, 0.0)
    means = filled.sum(axis=0) / np.maximum(counts, 1)
    squares = (np.where(finite, data - means, 0.0) ** 2).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts >= 2, np.sqrt(squares / (counts - 1)), np.nan)


def shrunk_correlation(returns: np.ndarray) -> np.ndarray:
    """Ledoit-Wolf-shrunk correlation [N, N] under the missing-data rule; unit diagonal, PD."""
    data = _checked_returns(returns)
    n_symbols = data.shape[1]
    corr = np.eye(n_symbols)
    finite = np.isfinite(data)
    counts = finite.sum(axis=0)
    filled = np.where(finite, data, 0.0)
    means = filled.sum(axis=0) / np.maximum(counts, 1)
    centred = np.where(finite, data - means, 0.0)
    spread = np.sqrt((centred**2).sum(axis=0) / np.maximum(counts, 1))
    usable = (counts >= MIN_CORRELATION_OBSERVATIONS) & (spread > 0.0)
    core = np.flatnonzero(usable)
    if core.size >= 2:
        rows = finite[:, core].any(axis=1)
        standardized = centred[np.ix_(rows, core)] / spread[core]
        scaled = standardized * np.sqrt(rows.sum() / counts[core])
        estimate = LedoitWolf().fit(scaled).covariance_
        corr[np.ix_(core, core)] = estimate / np.sqrt(np.outer(np.diag(estimate), np.diag(estimate)))
    return _lift_eigenvalues(0.5 * (corr + corr.T))


def _lift_eigenvalues(corr: np.ndarray) -> np.ndarray:
    """Blend with the identity so the smallest eigenvalue is at least the floor; keeps diag 1."""
    smallest = float(np.linalg.eigvalsh(corr)[0]) if corr.size else 1.0
    if smallest < MIN_CORRELATION_EIGENVALUE:
        blend = (MIN_CORRELATION_EIGENVALUE - smallest) / (1.0 - smallest)
        corr = (1.0 - blend) * corr + blend * np.eye(corr.shape[0])
    np.fill_diagonal(corr, 1.0)
    return corr


def _volatilities(returns: np.ndarray, vol_forecast: np.ndarray | None) -> np.ndarray:
    vols = sample_volatilities(returns)
    if vol_forecast is not None:
        forecast = np.asarray(vol_forecast, dtype=np.float64)
        if forecast.shape != vols.shape:
            raise ValueError(f"vol_forecast: expected shape {vols.shape}, got {forecast.shape}")
        good = np.isfinite(forecast) & (forecast > 0.0)
        vols = np.where(good, forecast, vols)
    known = np.isfinite(vols)
    if vols.size and not known.any():
        raise ValueError("no symbol has two returns or a volatility forecast; its risk is unknown")
    if not vols.size:
        return vols
    vols = np.where(known, vols, vols[known].max())
    positive = vols[vols > 0.0]
    floor = max(VOL_FLOOR_FRACTION * float(np.median(positive)), MIN_VOL) if positive.size else MIN_VOL
    return np.maximum(vols, floor)


def _checked_returns(returns: np.ndarray) -> np.ndarray:
    data = np.asarray(returns, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError(f"returns: expected a [T, N] array, got shape {data.shape}")
    return np.where(np.isfinite(data), data, np.nan)
