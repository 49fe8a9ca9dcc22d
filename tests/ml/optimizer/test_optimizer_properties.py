"""Property tests: whatever the inputs and limits, the allocation is finite and meets every limit."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nexus_assets.ml.optimizer.limits import FORCED_SALE_ALLOWANCE
from nexus_assets.ml.optimizer.weights import Allocation, AllocationLimits, optimize_weights

TOL = 1e-9
SETTINGS = settings(
    max_examples=120,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def limit_sets(draw: st.DrawFn) -> AllocationLimits:
    max_gross = draw(st.floats(0.2, 2.0))
    max_net = draw(st.floats(0.0, 1.0)) * max_gross
    min_net = draw(st.sampled_from([0.0, -1.0, 0.5])) * draw(st.floats(0.0, 1.0)) * min(max_net, max_gross)
    return AllocationLimits(
        max_weight=draw(st.floats(0.05, 1.0)),
        max_gross=max_gross,
        max_net=max_net,
        min_net=min_net,
        long_only=draw(st.booleans()),
        max_turnover=draw(st.none() | st.floats(0.0, 1.5)),
        target_volatility=draw(st.none() | st.floats(0.01, 0.5)),
        risk_aversion=draw(st.floats(0.0, 50.0)),
        cost_per_unit_turnover=draw(st.floats(0.0, 0.01)),
    )


@st.composite
def problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random factor-model covariances (diagonal, rank-deficient, tiny or huge) with matching mu and prev."""
    n = draw(st.integers(1, 10))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    factors = draw(st.integers(0, 3))
    idio = draw(st.sampled_from([1.0, 1e-6, 0.0 if factors else 1.0]))
    loadings = rng.normal(0.0, 1.0, (n, factors))
    cov = loadings @ loadings.T + np.diag(idio * rng.uniform(0.5, 2.0, n))
    vol_scale = 10.0 ** draw(st.floats(-5.0, 1.0))
    cov *= vol_scale**2
    mu = rng.normal(0.0, 1.0, n) * vol_scale * 10.0 ** draw(st.floats(-3.0, 0.5))
    previous = draw(st.sampled_from([0.0, 0.3, 1.0])) * rng.normal(0.0, 1.0, n)
    tradable = rng.random(n) < draw(st.sampled_from([1.0, 0.7]))
    return mu, cov, previous, tradable


def _forced_turnover(
    prev: np.ndarray, cov: np.ndarray, limits: AllocationLimits, tradable: np.ndarray
) -> float:
    """The spec's forced-sale rule, written again: clip into bounds, scale toward cash until inside."""
    upper = np.where(tradable, limits.max_weight, 0.0)
    w = np.clip(prev, 0.0 if limits.long_only else -upper, upper)
    w = w * min(1.0, limits.max_gross / max(np.abs(w).sum(), 1e-300))
    if w.sum() > limits.max_net:
        w = w * limits.max_net / w.sum()
    elif w.sum() < limits.min_net <= 0:
        w = w * limits.min_net / w.sum()
    vol = np.sqrt(max(w @ cov @ w, 0.0) * limits.periods_per_year)
    if limits.target_volatility is not None and vol > limits.target_volatility:
        w = w * limits.target_volatility / vol
    return float(np.abs(w - prev).sum())


def _assert_meets_limits(
    alloc: Allocation, cov: np.ndarray, prev: np.ndarray, limits: AllocationLimits, tradable: np.ndarray
) -> None:
    w = alloc.weights
    assert w.shape == prev.shape
    assert np.all(np.isfinite(w))
    assert np.all(w[~tradable] == 0.0)
    if limits.long_only:
        assert np.all(w >= 0.0)
    assert np.all(np.abs(w) <= limits.max_weight + TOL)
    assert np.abs(w).sum() <= limits.max_gross + TOL
    assert w.sum() <= limits.max_net + TOL
    vol = np.sqrt(max(float(w @ cov @ w), 0.0) * limits.periods_per_year)
    assert np.isclose(alloc.expected_volatility, vol, rtol=1e-7, atol=1e-12)
    if limits.target_volatility is not None:
        assert vol <= limits.target_volatility * (1 + 1e-9) + TOL
    if alloc.status != "cash":
        assert w.sum() >= limits.min_net - TOL
        if limits.max_turnover is not None:
            forced = _forced_turnover(prev, cov, limits, tradable)
            budget = max(limits.max_turnover, forced + FORCED_SALE_ALLOWANCE)
            assert np.abs(w - prev).sum() <= budget + 1e-8


@SETTINGS
@given(problem=problems(), limits=limit_sets())
def test_every_allocation_meets_every_limit(problem, limits):
    mu, cov, prev, tradable = problem
    alloc = optimize_weights(mu, cov, prev, limits, tradable=tradable)
    _assert_meets_limits(alloc, cov, prev, limits, tradable)
    if limits.min_net <= 0.0:
        assert alloc.status == "optimal", alloc.reason


@settings(SETTINGS, max_examples=40)
@given(problem=problems(), limits=limit_sets(), poison=st.sampled_from(["mu", "cov", "both"]))
def test_non_finite_inputs_still_give_an_allocation_within_limits(problem, limits, poison):
    mu, cov, prev, tradable = problem
    rng = np.random.default_rng(len(mu))
    bad = rng.integers(len(mu))
    if poison in ("mu", "both"):
        mu = mu.copy()
        mu[bad] = np.nan
    if poison in ("cov", "both"):
        cov = cov.copy()
        cov[bad, :] = cov[:, bad] = np.inf
    alloc = optimize_weights(mu, cov, prev, limits, tradable=tradable)
    if tradable[bad]:
        assert alloc.status != "optimal"
        assert alloc.reason
        assert alloc.weights[bad] == 0.0 or (poison == "mu" and alloc.status == "fallback_previous")
    finite_cov = np.where(np.isfinite(cov), cov, 0.0)
    _assert_meets_limits(alloc, finite_cov, prev, limits, tradable)
