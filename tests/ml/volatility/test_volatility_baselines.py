"""Baselines: the forecast made at origin t uses returns up to and including t, never t + 1."""

from __future__ import annotations

import numpy as np
import pytest
from arch import arch_model

from nexus_assets.ml.volatility.baselines import (
    MIN_GARCH_OBS,
    ewma_forecasts,
    garch11_forecasts,
    refit_schedule,
)


@pytest.fixture(scope="module")
def returns() -> np.ndarray:
    """GARCH(1,1) returns whose every fit (expanding or 150-bar) finds alpha > 0, so r[t] matters."""
    rng = np.random.default_rng(1)
    out, h = np.empty(400), 1e-4
    for t in range(400):
        out[t] = np.sqrt(h) * rng.standard_normal()
        h = 5e-6 + 0.15 * out[t] ** 2 + 0.8 * h
    return out


def test_ewma_recursion_by_hand():
    lam, r = 0.94, np.array([0.01, -0.02, 0.03])
    expected = [
        r[0] ** 2,
        (r[1] ** 2 + lam * r[0] ** 2) / (1 + lam),
        (r[2] ** 2 + lam * r[1] ** 2 + lam**2 * r[0] ** 2) / (1 + lam + lam**2),
    ]
    assert np.allclose(ewma_forecasts(r, lam), expected, rtol=1e-14)


def test_ewma_at_t_ignores_later_returns(returns):
    changed = returns.copy()
    changed[200] *= 10
    before, after = ewma_forecasts(returns), ewma_forecasts(changed)
    assert np.array_equal(before[:200], after[:200])
    assert np.all(before[200:] != after[200:])


def test_garch_forecast_is_the_recursion_on_returns_up_to_the_origin(returns):
    origin = 250
    result = arch_model(returns[: origin + 1] * 100, mean="Zero", vol="GARCH", p=1, q=1, rescale=False).fit(
        disp="off"
    )
    omega, alpha, beta = result.params.to_numpy()
    sigma2_origin = result.conditional_volatility[-1] ** 2
    by_hand = (omega + alpha * (returns[origin] * 100) ** 2 + beta * sigma2_origin) / 100**2
    forecast = garch11_forecasts(returns, np.array([origin, origin + 1]), refit_every=21)
    assert forecast[0] == pytest.approx(by_hand, rel=1e-9)
    sigma2_next = forecast[0] * 100**2
    assert forecast[1] == pytest.approx(
        (omega + alpha * (returns[origin + 1] * 100) ** 2 + beta * sigma2_next) / 100**2, rel=1e-9
    )


@pytest.mark.parametrize("window", [None, 150])
def test_garch_at_t_ignores_r_t_plus_1_inside_and_across_blocks(returns, window):
    origins = np.arange(180, 400)
    baseline = garch11_forecasts(returns, origins, refit_every=21, window=window)
    for changed_at in (190, 201, 250):  # inside the first block, on a refit origin, inside a later block
        changed = returns.copy()
        changed[changed_at] *= 8
        forecast = garch11_forecasts(changed, origins, refit_every=21, window=window)
        before = origins < changed_at
        assert np.array_equal(forecast[before], baseline[before])
        assert forecast[origins == changed_at][0] != baseline[origins == changed_at][0]


def test_refit_schedule_counts_bars_not_origins():
    flags = refit_schedule(np.array([10, 11, 12, 20, 30, 31, 41]), refit_every=10)
    assert flags.tolist() == [True, False, False, True, True, False, True]


def test_explicit_refit_flags_decide_the_fits(returns):
    origins = np.arange(150, 200)
    once = garch11_forecasts(returns, origins, refits=np.arange(50) == 0)
    every = garch11_forecasts(returns, origins, refit_every=1)
    assert once[0] == every[0]
    assert not np.array_equal(once[1:], every[1:])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: garch11_forecasts(r, np.array([MIN_GARCH_OBS - 2])), "GARCH needs 100"),
        (lambda r: garch11_forecasts(np.where(np.arange(len(r)) == 5, np.nan, r), np.array([300])), "finite"),
        (lambda r: garch11_forecasts(r, np.array([300, 200])), "increasing"),
        (lambda r: garch11_forecasts(r, np.array([400])), "below 400"),
        (
            lambda r: garch11_forecasts(r, np.array([300]), refits=np.array([False])),
            "first origin must refit",
        ),
        (lambda r: ewma_forecasts(r, lam=1.0), "lam"),
        (lambda r: ewma_forecasts(np.array([])), "non-empty"),
    ],
    ids=["short", "nan", "unordered", "out-of-range", "no-first-refit", "lambda", "empty"],
)
def test_bad_baseline_arguments_raise_value_errors(returns, call, message):
    with pytest.raises(ValueError, match=message):
        call(returns)
