"""Solver inputs for one rebalance: validated, non-tradable symbols neutralized, margins applied.

Kept apart from ``optimizer_problem`` so preparing and checking inputs needs no cvxpy, whose
import takes about a second; the program is only built on the first solve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nexus_assets.ml.optimizer.limits import AllocationLimits, weight_bounds

__all__ = ["INTERIOR_MARGIN", "PSD_TOLERANCE", "ProblemInputs", "problem_inputs", "risk_factor"]

INTERIOR_MARGIN = 1e-7
"""The solver aims this far inside the turnover budget, min_net (where there is room) and, relatively,
the volatility target, so solver tolerance and the clean-up's tiny rescaling cannot cross them."""
PSD_TOLERANCE = 1e-10
"""Eigenvalues above -PSD_TOLERANCE * largest count as zero; below it the matrix is not a covariance."""


@dataclass(frozen=True)
class ProblemInputs:
    """One solve's data, already cleaned: finite, non-tradable symbols neutralized."""

    mu: np.ndarray
    factor: np.ndarray
    previous: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    net_floor: float
    budget: float | None
    vol_cap: float | None
    """Per-period volatility cap, the units of sqrt(w' cov w)."""


def risk_factor(covariance: np.ndarray) -> np.ndarray | None:
    """F with F'F = covariance (Cholesky, else eigen for singular PSD); None if not PSD."""
    sym = 0.5 * (covariance + covariance.T)
    try:
        return np.linalg.cholesky(sym).T
    except np.linalg.LinAlgError:
        values, vectors = np.linalg.eigh(sym)
    if values[0] < -PSD_TOLERANCE * max(values[-1], 0.0):
        return None
    return (vectors * np.sqrt(np.clip(values, 0.0, None))).T


def problem_inputs(
    mu: np.ndarray,
    cov: np.ndarray,
    previous: np.ndarray,
    tradable: np.ndarray,
    limits: AllocationLimits,
    budget: float | None,
) -> tuple[ProblemInputs | None, str | None]:
    """Solver inputs with non-tradable symbols neutralized, or None and why the solver is skipped.

    Only tradable symbols' entries must be finite; the others get mu 0 and an uncorrelated,
    average variance, which keeps the factor well conditioned while their weight is pinned at 0.
    """
    live = np.flatnonzero(tradable)
    if not np.all(np.isfinite(mu[live])):
        return None, f"expected returns not finite for symbols {live[~np.isfinite(mu[live])].tolist()}"
    block = cov[np.ix_(live, live)]
    if not np.all(finite := np.isfinite(block)):
        culprits = ~np.diag(finite) if not np.all(np.diag(finite)) else ~finite.all(axis=1)
        return None, f"covariance not finite for symbols {live[culprits].tolist()}"
    neutral = np.diag(np.full(len(mu), float(np.mean(np.diag(block))) if live.size else 1.0))
    neutral[np.ix_(live, live)] = block
    factor = risk_factor(neutral)
    if factor is None or not np.all(np.isfinite(factor)):
        return None, "covariance is not positive semi-definite"
    lower, upper = weight_bounds(limits, tradable)
    reachable = min(limits.max_net, limits.max_gross, float(upper.sum()))
    net_floor = limits.min_net + min(INTERIOR_MARGIN, max(reachable - limits.min_net, 0.0) / 2)
    cap = limits.period_volatility_cap
    inputs = ProblemInputs(
        mu=np.where(tradable, mu, 0.0),
        factor=factor,
        previous=previous,
        lower=lower,
        upper=upper,
        net_floor=net_floor,
        budget=None if budget is None else budget - INTERIOR_MARGIN,
        vol_cap=None if cap is None else cap * (1.0 - INTERIOR_MARGIN),
    )
    return inputs, None
