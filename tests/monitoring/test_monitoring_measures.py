"""The measures monitoring rests on: outcomes without look-ahead, PSI, calibration, verdict grading."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from nexus_assets.ml.monitoring import bar_outcomes, psi
from nexus_assets.ml.monitoring.skill import PredictorSkill, calibration
from nexus_assets.ml.monitoring.verdicts import Thresholds, predictor_verdict
from nexus_assets.ml.volatility.baselines import ewma_forecasts
from nexus_assets.sim.market import MarketSimConfig, simulate_market


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    return simulate_market(MarketSimConfig(symbols=("A", "B"), n_bars=200, seed=5))


def test_outcomes_are_the_next_bars_log_return_and_forecasts_use_only_the_past(bars):
    outcomes = bar_outcomes(bars)
    one = outcomes.filter(symbol="A")
    close = bars.filter(symbol="A")["close"].to_numpy()
    assert one["next_return"].to_numpy()[:-1] == pytest.approx(np.log(close[1:] / close[:-1]))
    assert one["next_return"][-1] is None
    returns = np.log(close[1:] / close[:-1])
    assert one["ewma_variance"][100] == pytest.approx(ewma_forecasts(returns[:100])[-1])
    # Changing every bar after t changes nothing known at t.
    later = bars.with_columns(
        pl.when((pl.col("symbol") == "A") & (pl.int_range(pl.len()).over("symbol") > 101))
        .then(pl.col("close") * 2)
        .otherwise(pl.col("close"))
        .alias("close")
    )
    again = bar_outcomes(later).filter(symbol="A")
    assert again["ewma_variance"][100] == one["ewma_variance"][100]
    assert again["momentum_forecast"][100] == one["momentum_forecast"][100]


def test_psi_reads_stable_shifted_and_degenerate_populations():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=5000)
    assert psi(reference, rng.normal(size=5000)) < 0.02
    assert psi(reference, rng.normal(1.0, 1.0, size=5000)) > 0.25
    assert psi(np.zeros(100), np.zeros(50)) < 0.01
    assert psi(np.zeros(100), np.ones(50)) > 1.0
    assert math.isnan(psi(reference, np.array([np.nan])))


def test_calibration_of_a_perfectly_calibrated_and_an_overconfident_signal():
    rng = np.random.default_rng(1)
    n = 4000
    confidence = rng.uniform(0.5, 1.0, n)
    right = rng.uniform(size=n) < confidence
    realized = np.where(right, 0.01, -0.01)
    honest = calibration(
        pl.DataFrame({"target_weight": np.full(n, 0.1), "next_return": realized, "confidence": confidence})
    )
    boastful = calibration(
        pl.DataFrame(
            {"target_weight": np.full(n, 0.1), "next_return": realized, "confidence": np.full(n, 0.99)}
        )
    )
    assert honest.expected_calibration_error < 0.03
    assert boastful.expected_calibration_error > 0.15
    assert boastful.brier > honest.brier


@pytest.mark.parametrize(
    ("ic", "baseline", "n", "level"),
    [
        (0.05, 0.01, 100, "pass"),
        (0.00, 0.01, 100, "warn"),
        (-0.05, 0.01, 100, "fail"),
        (-0.5, 0.01, 10, "unmeasured"),
    ],
)
def test_the_predictor_verdict_grades_its_shortfall(ic, baseline, n, level):
    skill = PredictorSkill("3", n, ic, 0.5, baseline, None, None)
    verdict = predictor_verdict(skill, Thresholds(min_predictions=30))
    assert verdict.level == level
    assert verdict.passed == (level in ("pass", "unmeasured"))
