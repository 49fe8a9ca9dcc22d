"""Shrunk covariance: sklearn's Ledoit-Wolf on complete data, forecasts on the diagonal, always PD."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.covariance import LedoitWolf, ledoit_wolf_shrinkage

from nexus_assets.ml.portfolio.covariance import (
    MIN_CORRELATION_EIGENVALUE,
    MIN_CORRELATION_OBSERVATIONS,
    VOL_FLOOR_FRACTION,
    shrunk_correlation,
    shrunk_covariance,
)


def _factor_returns(rng: np.random.Generator, periods: int, symbols: int) -> np.ndarray:
    market = rng.normal(0.0, 0.01, (periods, 1))
    return 0.0003 + market * rng.uniform(0.5, 1.5, symbols) + rng.normal(0.0, 0.01, (periods, symbols))


def _assert_spd(cov: np.ndarray) -> None:
    assert np.array_equal(cov, cov.T)
    np.linalg.cholesky(cov)
    vols = np.sqrt(np.diag(cov))
    assert np.linalg.eigvalsh(cov / np.outer(vols, vols))[0] >= MIN_CORRELATION_EIGENVALUE * (1 - 1e-6)


def test_complete_data_is_sklearn_ledoit_wolf_on_the_standardized_returns():
    returns = _factor_returns(np.random.default_rng(0), 250, 6)
    standardized = (returns - returns.mean(axis=0)) / returns.std(axis=0)
    sample_vols = returns.std(axis=0, ddof=1)
    expected = np.outer(sample_vols, sample_vols) * LedoitWolf().fit(standardized).covariance_
    cov = shrunk_covariance(returns)
    np.testing.assert_allclose(cov, expected, rtol=1e-12, atol=0)
    shrinkage = ledoit_wolf_shrinkage(standardized)
    assert 0 < shrinkage < 1
    off = ~np.eye(6, dtype=bool)
    corr = cov / np.outer(sample_vols, sample_vols)
    np.testing.assert_allclose(corr[off], (1 - shrinkage) * np.corrcoef(returns.T)[off], rtol=1e-10)
    _assert_spd(cov)


def test_diagonal_is_the_forecast_variance_and_the_correlation_is_unchanged():
    returns = _factor_returns(np.random.default_rng(1), 120, 5)
    forecast = np.array([0.01, 0.02, 0.005, 0.03, 0.015])
    cov = shrunk_covariance(returns, forecast)
    assert np.array_equal(np.diag(cov), forecast**2)
    np.testing.assert_allclose(cov / np.outer(forecast, forecast), shrunk_correlation(returns), rtol=1e-12)
    _assert_spd(cov)


def test_unusable_forecast_entries_fall_back_to_the_sample_volatility():
    returns = _factor_returns(np.random.default_rng(2), 120, 3)
    cov = shrunk_covariance(returns, np.array([0.02, np.nan, 0.0]))
    sample = returns.std(axis=0, ddof=1)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), [0.02, sample[1], sample[2]], rtol=1e-12)


def test_constant_price_gets_a_floored_variance_no_correlation_and_stays_pd():
    returns = _factor_returns(np.random.default_rng(3), 100, 4)
    returns[:, 2] = 0.0
    cov = shrunk_covariance(returns)
    vols = returns.std(axis=0, ddof=1)
    floor = VOL_FLOOR_FRACTION * np.median(vols[[0, 1, 3]])
    assert cov[2, 2] == pytest.approx(floor**2, rel=1e-12)
    assert np.all(cov[2, [0, 1, 3]] == 0.0)
    _assert_spd(cov)


def test_every_price_constant_is_still_pd():
    cov = shrunk_covariance(np.zeros((50, 3)))
    assert np.all(np.diag(cov) > 0)
    _assert_spd(cov)


def test_short_history_symbol_is_uncorrelated_and_priced_at_the_highest_known_vol():
    returns = _factor_returns(np.random.default_rng(4), 200, 4)
    returns[: 200 - (MIN_CORRELATION_OBSERVATIONS - 1), 1] = np.nan
    returns[:, 3] = np.nan
    returns[-1, 3] = 0.01
    cov = shrunk_covariance(returns)
    assert np.all(cov[1, [0, 2, 3]] == 0.0)
    assert np.all(cov[3, [0, 1, 2]] == 0.0)
    known = np.nanstd(returns[:, :3], axis=0, ddof=1)
    assert cov[1, 1] == pytest.approx(known[1] ** 2, rel=1e-12)
    assert cov[3, 3] == pytest.approx(known.max() ** 2, rel=1e-12)
    _assert_spd(cov)


def test_young_symbol_correlation_is_pulled_toward_zero_by_the_history_it_misses():
    rng = np.random.default_rng(5)
    returns = _factor_returns(rng, 400, 3)
    returns[:, 2] = returns[:, 1]
    returns[:300, 2] = np.nan
    corr = shrunk_correlation(returns)
    assert corr[0, 2] == pytest.approx(corr[0, 1] * np.sqrt(100 / 400), rel=0.25)
    assert corr[1, 2] < corr[0, 1] < 1


def test_non_finite_returns_count_as_missing():
    returns = _factor_returns(np.random.default_rng(6), 80, 3)
    with_inf = returns.copy()
    with_inf[10, 0] = np.inf
    with_nan = returns.copy()
    with_nan[10, 0] = np.nan
    np.testing.assert_array_equal(shrunk_covariance(with_inf), shrunk_covariance(with_nan))


@pytest.mark.parametrize(("periods", "symbols"), [(25, 40), (30, 2), (21, 60)])
def test_collinear_or_short_samples_are_lifted_to_pd(periods, symbols):
    rng = np.random.default_rng(7)
    returns = _factor_returns(rng, periods, symbols)
    returns[:, 1] = returns[:, 0]
    returns[:, -1] = 2.0 * returns[:, 0]
    cov = shrunk_covariance(returns)
    _assert_spd(cov)
    assert np.all(np.diag(shrunk_correlation(returns)) == 1.0)


def test_no_usable_volatility_is_an_error_unless_forecast():
    returns = np.full((10, 2), np.nan)
    with pytest.raises(ValueError, match="risk is unknown"):
        shrunk_covariance(returns)
    cov = shrunk_covariance(returns, np.array([0.01, 0.02]))
    np.testing.assert_allclose(cov, np.diag([0.01**2, 0.02**2]))


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="returns"):
        shrunk_covariance(np.zeros(5))
    with pytest.raises(ValueError, match="vol_forecast"):
        shrunk_covariance(np.zeros((5, 2)), np.ones(3))


def test_ridge_lifts_a_singular_shrunk_correlation():
    """Alternating identical returns: every x_t x_t' equals the sample matrix, so Ledoit-Wolf shrinks by 0."""
    alternating = 0.01 * np.resize([1.0, -1.0], 40)
    returns = np.column_stack([alternating, alternating, -alternating])
    assert ledoit_wolf_shrinkage((returns - returns.mean(0)) / returns.std(0)) < 1e-12
    corr = shrunk_correlation(returns)
    assert np.linalg.eigvalsh(corr)[0] == pytest.approx(MIN_CORRELATION_EIGENVALUE, rel=1e-3)
    assert corr[0, 1] == pytest.approx(1.0, abs=1e-7)
    _assert_spd(shrunk_covariance(returns))


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    periods=st.integers(0, 80),
    symbols=st.integers(1, 12),
    missing=st.floats(0.0, 0.9),
    constant=st.booleans(),
    with_forecast=st.booleans(),
)
def test_any_history_gives_a_finite_spd_matrix(seed, periods, symbols, missing, constant, with_forecast):
    rng = np.random.default_rng(seed)
    returns = _factor_returns(rng, periods, symbols) * 10.0 ** rng.uniform(-4, 1, symbols)
    returns[rng.random((periods, symbols)) < missing] = np.nan
    if constant:
        returns[:, 0] = 0.0
    forecast = rng.uniform(0.001, 0.05, symbols) if with_forecast else None
    if forecast is None and not np.any(np.isfinite(returns).sum(axis=0) >= 2):
        with pytest.raises(ValueError, match="risk is unknown"):
            shrunk_covariance(returns)
        return
    cov = shrunk_covariance(returns, forecast)
    assert np.all(np.isfinite(cov))
    _assert_spd(cov)
