"""The simulator is deterministic and has the properties that make markets hard."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import pytest

from nexus_assets.ml.bars import validate_bars
from nexus_assets.ml.quality import ohlc_violations
from nexus_assets.sim.market import MarketSimConfig, latest_close, simulate_market, start_for_end


@pytest.fixture(scope="module")
def market() -> pl.DataFrame:
    return simulate_market(MarketSimConfig(n_bars=2000, seed=21))


def _returns(bars: pl.DataFrame) -> np.ndarray:
    wide = bars.pivot(on="symbol", index="timestamp", values="close").drop("timestamp")
    return np.diff(np.log(wide.to_numpy()), axis=0)


def test_same_seed_same_bars_and_longer_runs_extend_shorter_ones():
    short = simulate_market(MarketSimConfig(n_bars=300, seed=3))
    assert short.equals(simulate_market(MarketSimConfig(n_bars=300, seed=3)))
    longer = simulate_market(MarketSimConfig(n_bars=450, seed=3))
    assert longer.filter(pl.col("timestamp") <= short["timestamp"].max()).equals(short)
    assert not short.equals(simulate_market(MarketSimConfig(n_bars=300, seed=4)))


def test_bars_are_valid_business_days_at_the_close(market):
    assert validate_bars(market, source="sim").equals(market)
    assert ohlc_violations(market) == 0
    days = market["timestamp"].dt.weekday().unique().sort().to_list()
    assert days == [1, 2, 3, 4, 5]
    assert market["timestamp"].dt.hour().unique().to_list() == [21]


def test_volatility_clusters_and_tails_are_fat(market):
    returns = _returns(market)
    absolute = np.abs(returns)
    autocorrelation = [np.corrcoef(absolute[1:, i], absolute[:-1, i])[0, 1] for i in range(returns.shape[1])]
    assert min(autocorrelation) > 0.03
    centered = returns - returns.mean(axis=0)
    kurtosis = (centered**4).mean(axis=0) / (centered**2).mean(axis=0) ** 2 - 3
    assert kurtosis.min() > 0.5


def test_symbols_are_correlated(market):
    correlation = np.corrcoef(_returns(market).T)
    off_diagonal = correlation[~np.eye(len(correlation), dtype=bool)]
    assert off_diagonal.mean() > 0.2


def test_regimes_shift_volatility(market):
    returns = _returns(market)
    rolling = pl.Series(returns.mean(axis=1)).rolling_std(42).drop_nulls()
    assert rolling.max() > 2.0 * rolling.min()


def test_volume_rises_with_large_moves(market):
    wide_volume = (
        market.pivot(on="symbol", index="timestamp", values="volume").drop("timestamp").to_numpy()[1:]
    )
    absolute = np.abs(_returns(market))
    big = absolute > np.quantile(absolute, 0.9, axis=0)
    assert (wide_volume[big].mean() / wide_volume[~big].mean()) > 1.1


def test_latest_close_and_start_for_end():
    friday_evening = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)
    assert latest_close(friday_evening) == datetime(2026, 11, 27, 21, 0, tzinfo=UTC)
    friday_morning = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert latest_close(friday_morning) == datetime(2026, 11, 26, 21, 0, tzinfo=UTC)
    sunday = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    assert latest_close(sunday) == datetime(2026, 11, 27, 21, 0, tzinfo=UTC)
    end = latest_close(friday_evening)
    start = start_for_end(end, 10)
    assert start == date(2026, 11, 16)
    bars = simulate_market(MarketSimConfig(symbols=("A",), n_bars=10, start=start))
    assert bars["timestamp"].max() == end


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="symbols: duplicate symbol"):
        MarketSimConfig(symbols=("A", "A"))
    with pytest.raises(ValueError, match="n_bars"):
        MarketSimConfig(n_bars=1)
