"""Walk-forward: same origins for every method, no look-ahead, and the model beats GARCH(1,1) on the S&P 500."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest

from nexus_assets.marketdata.reference import sp500_bars
from nexus_assets.ml.volatility.walkforward import FORECAST_COLUMNS, MIN_WARMUP, walk_forward
from nexus_assets.sim.market import MarketSimConfig, simulate_market

WARMUP = 150


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    return simulate_market(MarketSimConfig(symbols=("AAA", "BBB"), n_bars=260, seed=21))


@pytest.fixture(scope="module")
def result(bars):
    return walk_forward(bars, warmup=WARMUP, refit_every=21)


def test_every_method_forecasts_every_origin(bars, result):
    forecasts = result.forecasts
    assert forecasts.columns == list(FORECAST_COLUMNS)
    assert forecasts.height == 2 * (260 - WARMUP)
    expected = bars.group_by("symbol", maintain_order=True).tail(260 - WARMUP).select("symbol", "timestamp")
    assert forecasts.select("symbol", "timestamp").equals(expected)
    variances = forecasts.select("model_variance", "garch_variance", "ewma_variance").to_numpy()
    assert np.all(np.isfinite(variances))
    assert np.all(variances > 0)
    assert result.summary.n_origins == forecasts.height - 2  # each symbol's last bar has no realized value
    assert result.n_refits == 6  # origins 150..259 refit at 150, 171, ..., 255
    assert result.garch_unconverged == 0


def test_realized_is_the_next_bars_squared_log_return(bars, result):
    close = bars.filter(pl.col("symbol") == "BBB")["close"].to_numpy()
    realized = result.forecasts.filter(pl.col("symbol") == "BBB")["realized_sq_return"].to_numpy()
    expected = np.log(close[WARMUP + 1 :] / close[WARMUP:-1]) ** 2
    assert np.allclose(realized[:-1], expected, rtol=1e-12)
    assert np.isnan(realized[-1])


@pytest.mark.parametrize("window", ["expanding", "rolling"])
def test_no_method_looks_ahead(bars, window):
    """Moving bars after T (a jump, then rescaled prices) leaves every forecast made at or before T unchanged."""
    times = bars["timestamp"].unique().sort()
    cut = times[WARMUP + 30]  # mid-way between two refits
    later = pl.col("timestamp") > cut
    changed = bars.with_columns(
        pl.when(later).then(pl.col(c) * 1.7).otherwise(pl.col(c)) for c in ("open", "high", "low", "close")
    ).with_columns(
        pl.when(pl.col("timestamp") == times[WARMUP + 31]).then(pl.col("high") * 1.2).otherwise("high")
    )
    kwargs = {"warmup": WARMUP, "refit_every": 21, "window": window}
    before = walk_forward(bars, **kwargs).forecasts.drop("realized_sq_return")
    after = walk_forward(changed, **kwargs).forecasts.drop("realized_sq_return")
    assert after.filter(pl.col("timestamp") <= cut).equals(before.filter(pl.col("timestamp") <= cut))
    moved = after.filter(later)
    for column in ("model_variance", "garch_variance"):
        assert np.all(moved[column].to_numpy() != before.filter(later)[column].to_numpy()), column


def test_progress_reports_every_fit(bars):
    calls: list[tuple[int, int]] = []
    walk_forward(
        bars, warmup=WARMUP, refit_every=63, progress=lambda done, total: calls.append((done, total))
    )
    assert calls == [(i, 6) for i in range(1, 7)]  # 2 pooled fits, then 2 GARCH fits per symbol


def test_summary_is_the_qlike_of_the_forecasts(result):
    known = result.forecasts.drop_nulls("realized_sq_return")
    y = known["realized_sq_return"].to_numpy()
    h = known["model_variance"].to_numpy()
    assert result.summary.model == pytest.approx(np.mean(np.log(h) + y / h), rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"warmup": MIN_WARMUP - 1}, f"warmup: must be at least {MIN_WARMUP}"),
        ({"warmup": 260}, "symbol 'AAA' has 260 bars, walk-forward with warmup=260 needs at least 261"),
        ({"refit_every": 0}, "refit_every: must be at least 1"),
        ({"window": "sliding"}, "window: must be 'expanding' or 'rolling'"),
    ],
    ids=["small-warmup", "short-history", "refit", "window"],
)
def test_bad_options_raise_value_errors(bars, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        walk_forward(bars, **{"warmup": WARMUP, **kwargs})


@pytest.mark.slow
def test_model_beats_garch_and_ewma_on_the_sp500():
    """The acceptance figure: origins from bar 1000 on, expanding window, refit every 21 bars."""
    summary = walk_forward(sp500_bars(), warmup=1000, refit_every=21).summary
    assert summary.n_origins == 4030
    assert summary.model < summary.garch - 0.03
    assert summary.model < summary.ewma
    assert summary.model == pytest.approx(-8.498, abs=2e-3)
    assert summary.garch == pytest.approx(-8.441, abs=2e-3)
    assert summary.ewma == pytest.approx(-8.418, abs=2e-3)
