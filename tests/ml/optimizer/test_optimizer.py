"""Optimizer behaviour: non-tradable symbols, forced sales, every fallback path, input checks."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cvxpy as cp
import numpy as np
import pytest

from nexus_assets.ml.optimizer import problem as optimizer_problem
from nexus_assets.ml.optimizer.limits import FORCED_SALE_ALLOWANCE, limit_violations, turnover_budget
from nexus_assets.ml.optimizer.reference import reference_objective
from nexus_assets.ml.optimizer.weights import (
    Allocation,
    AllocationLimits,
    WeightOptimizer,
    optimize_weights,
)

N = 6


def _problem(seed: int = 0, n: int = N) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    loadings = rng.normal(0.0, 0.01, (n, 2))
    cov = loadings @ loadings.T + np.diag(rng.uniform(1e-4, 3e-4, n))
    return rng.normal(5e-4, 1e-3, n), cov


def _assert_risk_limits(
    alloc: Allocation, cov: np.ndarray, limits: AllocationLimits, tradable: np.ndarray | None = None
) -> None:
    """The limits every allocation meets, cash included, checked by hand."""
    w = alloc.weights
    tol = 1e-9
    assert np.all(np.isfinite(w))
    if tradable is not None:
        assert np.all(w[~tradable] == 0.0)
    if limits.long_only:
        assert np.all(w >= 0.0)
    assert np.all(np.abs(w) <= limits.max_weight + tol)
    assert np.abs(w).sum() <= limits.max_gross + tol
    assert w.sum() <= limits.max_net + tol
    held = w != 0
    vol = np.sqrt(w[held] @ cov[np.ix_(held, held)] @ w[held] * limits.periods_per_year)
    assert alloc.expected_volatility == pytest.approx(vol, rel=1e-9, abs=1e-15)
    if limits.target_volatility is not None:
        assert vol <= limits.target_volatility + tol


def test_optimal_allocation_meets_every_limit_and_reports_its_objective():
    mu, cov = _problem()
    limits = AllocationLimits()
    prev = np.full(N, 0.1)
    alloc = optimize_weights(mu, cov, prev, limits)
    assert (alloc.status, alloc.reason) == ("optimal", None)
    _assert_risk_limits(alloc, cov, limits)
    assert np.abs(alloc.weights - prev).sum() <= limits.max_turnover + 1e-9
    assert limit_violations(alloc.weights, prev, cov, limits, np.ones(N, bool), budget=0.5) == []
    assert alloc.objective == pytest.approx(
        reference_objective(alloc.weights, mu, cov, prev, limits), rel=1e-12
    )


def test_non_tradable_symbols_end_at_exactly_zero_and_their_inputs_are_ignored():
    mu, cov = _problem(1)
    tradable = np.array([False, True, True, False, True, True])
    mu[~tradable] = np.nan
    cov[~tradable, :] = np.nan
    cov[:, ~tradable] = np.nan
    prev = np.array([0.2, 0.1, 0.1, 0.05, 0.1, 0.1])
    limits = AllocationLimits(max_turnover=None)
    alloc = optimize_weights(mu, cov, prev, limits, tradable=tradable)
    assert alloc.status == "optimal"
    assert np.array_equal(alloc.weights[~tradable], [0.0, 0.0])
    assert alloc.weights[tradable].sum() > 0
    _assert_risk_limits(alloc, cov, limits, tradable)
    assert alloc.objective is not None


def test_turnover_limit_yields_to_forced_sales_and_only_to_them():
    mu, cov = _problem(2)
    tradable = np.ones(N, dtype=bool)
    tradable[0] = False
    prev = np.array([0.3, 0.1, 0.1, 0.1, 0.1, 0.1])
    limits = AllocationLimits(max_turnover=0.1, target_volatility=None)
    assert turnover_budget(prev, cov, limits, tradable) == pytest.approx(0.3 + FORCED_SALE_ALLOWANCE)
    alloc = optimize_weights(mu, cov, prev, limits, tradable=tradable)
    assert alloc.status == "optimal"
    assert alloc.weights[0] == 0.0
    assert np.abs(alloc.weights[1:] - prev[1:]).sum() <= FORCED_SALE_ALLOWANCE + 1e-9


def test_position_above_a_lowered_max_weight_is_trimmed_beyond_the_turnover_limit():
    mu, cov = _problem(3)
    prev = np.array([0.5, 0.1, 0.1, 0.1, 0.1, 0.1])
    limits = AllocationLimits(max_turnover=0.05, target_volatility=None)
    alloc = optimize_weights(mu, cov, prev, limits)
    assert alloc.status == "optimal"
    assert alloc.weights[0] <= 0.25 + 1e-9
    assert np.abs(alloc.weights - prev).sum() <= 0.25 + FORCED_SALE_ALLOWANCE + 1e-9


def test_tradable_covariance_with_nan_falls_back_to_the_previous_weights():
    mu, cov = _problem(4)
    cov[2, :] = cov[:, 2] = np.nan
    prev = np.array([0.2, 0.2, 0.0, 0.2, 0.1, 0.0])
    limits = AllocationLimits()
    alloc = optimize_weights(mu, cov, prev, limits)
    assert alloc.status == "fallback_previous"
    assert "covariance not finite for symbols [2]" in alloc.reason
    np.testing.assert_array_equal(alloc.weights, prev)
    _assert_risk_limits(alloc, cov, limits)


def test_unknown_risk_of_a_held_symbol_falls_back_to_inverse_volatility_without_it():
    mu, cov = _problem(5)
    cov[2, :] = cov[:, 2] = np.nan
    prev = np.full(N, 0.1)
    limits = AllocationLimits(max_turnover=None, target_volatility=None)
    alloc = optimize_weights(mu, cov, prev, limits)
    assert alloc.status == "fallback_inverse_volatility"
    assert "previous weights clipped into limits: volatility unknown" in alloc.reason
    assert alloc.weights[2] == 0.0
    others = np.delete(np.arange(N), 2)
    inverse_vol = 1 / np.sqrt(np.diag(cov)[others])
    np.testing.assert_allclose(alloc.weights[others], inverse_vol / inverse_vol.sum(), rtol=1e-12)
    _assert_risk_limits(alloc, cov, limits)


def test_inverse_volatility_fallback_moves_only_as_far_as_the_turnover_budget():
    mu, cov = _problem(6)
    mu[1] = np.nan
    limits = AllocationLimits(min_net=0.3, max_turnover=0.4)
    alloc = optimize_weights(mu, cov, np.zeros(N), limits)
    assert alloc.status == "fallback_inverse_volatility"
    assert "expected returns not finite for symbols [1]" in alloc.reason
    assert "below min_net" in alloc.reason
    assert alloc.objective is None
    assert np.abs(alloc.weights).sum() == pytest.approx(0.4, abs=1e-9)
    _assert_risk_limits(alloc, cov, limits)


def test_infeasible_minimum_exposure_ends_in_cash_that_names_what_it_breaks():
    mu, cov = _problem(7)
    tradable = np.array([True, True, False, False, False, False])
    limits = AllocationLimits(min_net=0.6, max_turnover=None)
    alloc = optimize_weights(mu, cov, np.zeros(N), limits, tradable=tradable)
    assert alloc.status == "cash"
    assert "solver returned status infeasible" in alloc.reason
    assert "inverse volatility: net 0.5 below min_net 0.6" in alloc.reason
    assert "cash breaks net 0 below min_net 0.6" in alloc.reason
    np.testing.assert_array_equal(alloc.weights, np.zeros(N))
    assert alloc.expected_volatility == 0.0
    _assert_risk_limits(alloc, cov, limits, tradable)


def test_covariance_that_is_not_psd_is_not_solved():
    mu = np.array([1e-3, 1e-3])
    cov = np.array([[1e-4, 2e-4], [2e-4, 1e-4]])
    alloc = optimize_weights(mu, cov, np.array([0.1, 0.0]), AllocationLimits())
    assert alloc.status == "fallback_previous"
    assert alloc.reason == "covariance is not positive semi-definite"
    np.testing.assert_array_equal(alloc.weights, [0.1, 0.0])


@pytest.mark.parametrize(
    ("bad_weights", "message"),
    [(np.full(N, 0.5), "solver weights break limits: 6 weights outside"), (np.full(N, np.nan), "not finite")],
)
def test_solver_answers_that_break_limits_are_not_trusted(monkeypatch, bad_weights, message):
    monkeypatch.setattr(
        optimizer_problem.AllocationProblem, "solve", lambda self, inputs: (bad_weights, "optimal")
    )
    mu, cov = _problem(8)
    prev = np.full(N, 0.1)
    alloc = WeightOptimizer(N, AllocationLimits()).solve(mu, cov, prev)
    assert alloc.status == "fallback_previous"
    assert message in alloc.reason
    np.testing.assert_array_equal(alloc.weights, prev)


def test_solver_exception_falls_back(monkeypatch):
    def fail(*args, **kwargs):
        raise cp.error.SolverError("boom")

    monkeypatch.setattr(cp.Problem, "solve", fail)
    mu, cov = _problem(9)
    alloc = WeightOptimizer(N, AllocationLimits()).solve(mu, cov, np.full(N, 0.1))
    assert alloc.status == "fallback_previous"
    assert alloc.reason.startswith("solver returned status solver error: boom")


def test_repeated_and_concurrent_solves_agree():
    limits = AllocationLimits(long_only=False, min_net=-0.2)
    optimizer = WeightOptimizer(N, limits)
    problems = [(*_problem(seed), np.full(N, 0.05)) for seed in range(8)]
    sequential = [optimizer.solve(*p).weights for p in problems]
    assert all(
        np.array_equal(optimize_weights(*p, limits).weights, w)
        for p, w in zip(problems, sequential, strict=True)
    )
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(lambda p: optimizer.solve(*p).weights, problems * 2))
    assert all(np.array_equal(a, b) for a, b in zip(concurrent, sequential * 2, strict=True))


def test_limits_no_portfolio_can_meet_are_rejected_up_front():
    with pytest.raises(ValueError, match="min_net"):
        AllocationLimits(min_net=1.5, max_gross=1.0)
    with pytest.raises(ValueError, match="min_net"):
        AllocationLimits(min_net=0.5, max_net=0.4)
    with pytest.raises(ValueError, match="max_net"):
        AllocationLimits(max_net=-0.1, min_net=-0.2)
    with pytest.raises(ValueError, match="target_volatility"):
        AllocationLimits(target_volatility=0.0)
    with pytest.raises(ValueError, match="max_turnover"):
        AllocationLimits(max_turnover=float("nan"))


def test_bad_inputs_raise_instead_of_guessing():
    mu, cov = _problem()
    limits = AllocationLimits()
    with pytest.raises(ValueError, match="covariance"):
        optimize_weights(mu, cov[:3, :3], np.zeros(N), limits)
    with pytest.raises(ValueError, match="previous_weights"):
        optimize_weights(mu, cov, np.full(N, np.nan), limits)
    with pytest.raises(ValueError, match="tradable"):
        optimize_weights(mu, cov, np.zeros(N), limits, tradable=np.ones(N))
    with pytest.raises(ValueError, match="expected_returns"):
        optimize_weights(np.zeros((N, 1)), cov, np.zeros(N), limits)
