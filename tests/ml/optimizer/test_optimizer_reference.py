"""The cvxpy/Clarabel optimum agrees with an independent SLSQP formulation, binding limits included."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from nexus_assets.ml.optimizer.limits import FORCED_SALE_ALLOWANCE
from nexus_assets.ml.optimizer.reference import reference_objective, reference_weights
from nexus_assets.ml.optimizer.weights import AllocationLimits, optimize_weights

N = 8


@dataclass(frozen=True)
class Case:
    limits: AllocationLimits
    mu_shift: np.ndarray
    previous: np.ndarray
    tradable: np.ndarray | None = None


def _cov(rng: np.random.Generator) -> np.ndarray:
    loadings = rng.normal(0.0, 0.008, (N, 2))
    return loadings @ loadings.T + np.diag(rng.uniform(1e-4, 3e-4, N))


def _annual_vol(w: np.ndarray, cov: np.ndarray, limits: AllocationLimits) -> float:
    return float(np.sqrt(w @ cov @ w * limits.periods_per_year))


EQUAL = np.full(N, 1 / N)
CASES = {
    "interior": Case(
        AllocationLimits(max_weight=1.0, max_turnover=None, target_volatility=None), 2e-4, EQUAL
    ),
    "max_weight": Case(
        AllocationLimits(max_turnover=None, target_volatility=None), np.r_[5e-3, np.zeros(N - 1)], np.zeros(N)
    ),
    "volatility": Case(AllocationLimits(max_turnover=None, target_volatility=0.03), 3e-3, np.zeros(N)),
    "turnover": Case(
        AllocationLimits(max_turnover=0.1, target_volatility=None),
        np.r_[np.zeros(4), np.full(4, 4e-3)],
        EQUAL,
    ),
    "long_short_gross": Case(
        AllocationLimits(long_only=False, min_net=-1.0, max_turnover=None, target_volatility=None),
        np.resize([6e-3, -6e-3], N),
        np.zeros(N),
    ),
    "forced_sale": Case(
        AllocationLimits(max_turnover=0.05, target_volatility=0.08),
        np.r_[0.0, np.full(N - 1, 2e-3)],
        np.r_[0.3, np.full(N - 1, 0.05)],
        np.r_[False, np.ones(N - 1, dtype=bool)],
    ),
}


def _binds(name: str, w: np.ndarray, cov: np.ndarray, case: Case) -> bool:
    limits, tol = case.limits, 1e-6
    if name == "max_weight":
        return abs(w.max() - limits.max_weight) < tol
    if name == "volatility":
        return abs(_annual_vol(w, cov, limits) - limits.target_volatility) < tol
    if name == "turnover":
        return abs(np.abs(w - case.previous).sum() - limits.max_turnover) < tol
    if name == "long_short_gross":
        return abs(np.abs(w).sum() - limits.max_gross) < tol and w.min() < -0.1
    if name == "forced_sale":
        return abs(np.abs(w - case.previous).sum() - (0.3 + FORCED_SALE_ALLOWANCE)) < tol and w[0] == 0.0
    return True


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", CASES)
def test_optimum_matches_the_scipy_formulation(name, seed):
    case = CASES[name]
    rng = np.random.default_rng(seed)
    cov = _cov(rng)
    mu = rng.normal(0.0, 5e-4, N) + case.mu_shift
    alloc = optimize_weights(mu, cov, case.previous, case.limits, tradable=case.tradable)
    expected = reference_weights(mu, cov, case.previous, case.limits, case.tradable)
    assert alloc.status == "optimal"
    expected_objective = reference_objective(expected, mu, cov, case.previous, case.limits)
    assert alloc.objective == pytest.approx(expected_objective, rel=1e-6, abs=1e-9)
    np.testing.assert_allclose(alloc.weights, expected, atol=1e-4)
    assert _binds(name, alloc.weights, cov, case)
    assert _binds(name, expected, cov, case)
