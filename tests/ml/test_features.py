"""Features: batch and last-bar paths agree exactly, nothing looks ahead, values are right."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from nexus_assets.ml.features import (
    FEATURE_COLUMNS,
    LOOKBACK_BARS,
    MACD_FAST,
    MACD_SLOW,
    compute_features,
    compute_features_lazy,
    features_for_last_bar,
    features_for_last_rows,
)
from nexus_assets.sim.market import MarketSimConfig, simulate_market


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    return simulate_market(MarketSimConfig(symbols=("AAA", "BBB", "CCC"), n_bars=400, seed=11))


@pytest.fixture(scope="module")
def signals(bars: pl.DataFrame) -> pl.DataFrame:
    rng = np.random.default_rng(3)
    times = bars["timestamp"].unique().sort()
    rows = []
    for i in range(120):
        symbol = ("AAA", "BBB", "CCC")[i % 3]
        at = times[int(rng.integers(0, len(times)))] - timedelta(hours=int(rng.integers(0, 30)))
        rows.append(
            {
                "symbol": symbol,
                "timestamp": at,
                "side": ("buy", "sell", "flat")[int(rng.integers(0, 3))],
                "strength": float(rng.uniform(0, 1)),
            }
        )
    return pl.DataFrame(rows).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))


def _batch_last(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.group_by("symbol", maintain_order=True).last()


@pytest.mark.parametrize("cut", [LOOKBACK_BARS - 1, LOOKBACK_BARS + 3, 200, 399])
def test_last_bar_features_equal_batch_bit_for_bit(bars, signals, cut):
    end = bars["timestamp"].unique().sort()[cut]
    history = bars.filter(pl.col("timestamp") <= end)
    batch = _batch_last(compute_features(history, signals.filter(pl.col("timestamp") <= end)))
    window = history.group_by("symbol", maintain_order=True).tail(LOOKBACK_BARS + 5)
    online = features_for_last_bar(window, signals)
    assert online.select("symbol", "timestamp").equals(batch.select("symbol", "timestamp"))
    for column in FEATURE_COLUMNS:
        assert online[column].to_list() == batch[column].to_list(), column


def test_signal_features_are_not_zero_everywhere(bars, signals):
    frame = compute_features(bars, signals)
    assert frame["sig_count_21"].sum() > 0
    assert frame["sig_net_5"].abs().sum() > 0


def test_changing_future_bars_leaves_past_features_unchanged(bars, signals):
    times = bars["timestamp"].unique().sort()
    pivot = times[250]
    shocked = bars.with_columns(
        [
            pl.when(pl.col("timestamp") > pivot).then(pl.col(c) * 3.0).otherwise(pl.col(c)).alias(c)
            for c in ("open", "high", "low", "close", "volume")
        ]
    )
    late_signal = pl.DataFrame(
        {"symbol": ["AAA"], "timestamp": [times[300]], "side": ["buy"], "strength": [1.0]}
    ).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))
    before = compute_features(bars, signals).filter(pl.col("timestamp") <= pivot)
    after = compute_features(shocked, pl.concat([signals, late_signal])).filter(pl.col("timestamp") <= pivot)
    assert before.equals(after)


def test_signal_counts_at_first_bar_closing_at_or_after_it(bars):
    times = bars["timestamp"].filter(bars["symbol"] == "AAA").sort()
    target = times[200]
    signal = pl.DataFrame(
        {"symbol": ["AAA"], "timestamp": [target - timedelta(hours=3)], "side": ["sell"], "strength": [0.5]}
    ).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))
    frame = compute_features(bars, signal).filter(pl.col("symbol") == "AAA")
    net = dict(zip(frame["timestamp"].to_list(), frame["sig_net_5"].to_list(), strict=True))
    assert net[times[199]] == 0.0
    assert net[target] == -0.5
    assert net[times[204]] == -0.5
    assert net[times[205]] == 0.0


def test_values_match_independent_numpy_formulas(bars):
    aaa = bars.filter(pl.col("symbol") == "AAA")
    o, h, lo, c = (aaa[col].to_numpy() for col in ("open", "high", "low", "close"))
    v = aaa["volume"].to_numpy()
    row = compute_features(aaa).tail(1).row(0, named=True)
    t = len(c) - 1
    r = np.diff(np.log(c))
    assert row["ret_1"] == pytest.approx(math.log(c[t] / c[t - 1]), rel=1e-12)
    assert row["ret_21"] == pytest.approx(math.log(c[t] / c[t - 21]), rel=1e-12)
    assert row["rv_21"] == pytest.approx(np.std(r[-21:], ddof=1), rel=1e-10)
    hl = np.log(h / lo)[-21:]
    assert row["parkinson_21"] == pytest.approx(math.sqrt(np.mean(hl**2) / (4 * math.log(2))), rel=1e-10)
    co = np.log(c / o)[-21:]
    gk = np.mean(0.5 * hl**2 - (2 * math.log(2) - 1) * co**2)
    assert row["garman_klass_21"] == pytest.approx(math.sqrt(gk), rel=1e-10)
    assert row["mom_63_5"] == pytest.approx(math.log(c[t - 5] / c[t - 63]), rel=1e-12)
    change = np.diff(c)[-14:]
    gains, losses = np.clip(change, 0, None).mean(), np.clip(-change, 0, None).mean()
    assert row["rsi_14"] == pytest.approx(100 * gains / (gains + losses), rel=1e-10)

    def ema(x: np.ndarray, span: int) -> float:
        window = 2 * span
        weights = (1 - 2 / (span + 1)) ** np.arange(window)[::-1]
        return float(np.dot(x[-window:], weights) / weights.sum())

    assert row["macd"] == pytest.approx((ema(c, MACD_FAST) - ema(c, MACD_SLOW)) / c[t], rel=1e-9)
    lv = np.log1p(v)[-21:]
    assert row["volume_z_21"] == pytest.approx((lv[-1] - lv.mean()) / lv.std(ddof=1), rel=1e-9)


def test_unsorted_input_gives_the_same_features(bars):
    shuffled = bars.sample(fraction=1.0, shuffle=True, seed=5)
    assert compute_features(shuffled).equals(compute_features(bars))


def test_every_complete_row_is_finite_and_warm_up_is_dropped(bars):
    frame = compute_features(bars)
    assert frame.group_by("symbol").len()["len"].to_list() == [400 - LOOKBACK_BARS + 1] * 3
    assert frame.select(pl.col(FEATURE_COLUMNS).is_finite().all()).row(0) == (True,) * len(FEATURE_COLUMNS)
    lazy = compute_features_lazy(bars).collect()
    assert lazy.filter(~pl.col("complete")).height == 3 * (LOOKBACK_BARS - 1)


def test_missing_volume_scores_a_neutral_z(bars):
    no_volume = bars.with_columns(pl.lit(None, dtype=pl.Float64).alias("volume"))
    frame = compute_features(no_volume)
    assert frame["volume_z_21"].unique().to_list() == [0.0]


def test_last_bar_needs_enough_history(bars):
    short = bars.group_by("symbol", maintain_order=True).head(LOOKBACK_BARS - 1)
    with pytest.raises(ValueError, match=r"bars: symbol 'AAA' has 68 bars, features need 69"):
        features_for_last_bar(short)


def test_last_rows_equal_the_batch_rows(bars, signals):
    batch = compute_features(bars, signals)
    online = features_for_last_rows(
        bars.group_by("symbol", maintain_order=True).tail(LOOKBACK_BARS + 40), 32, signals
    )
    expected = batch.group_by("symbol", maintain_order=True).tail(32)
    assert online.equals(expected)
