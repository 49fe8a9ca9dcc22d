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


_SQRT_PARKINSON = math.sqrt(4 * math.log(2))


def _closes_only(bars: pl.DataFrame, seed: int) -> pl.DataFrame:
    """The bars' keys with a random-walk close per symbol and open = high = low = close, volume 0."""
    rng = np.random.default_rng(seed)
    frame = bars.with_columns(step=pl.Series(rng.normal(0.0, 0.015, bars.height)))
    frame = frame.with_columns(close=50.0 * pl.col("step").cum_sum().over("symbol").exp())
    return frame.with_columns(
        pl.col("close").alias("open"), pl.col("close").alias("high"), pl.col("close").alias("low"), volume=0.0
    ).select(bars.columns)


def _range_reference(symbol_bars: pl.DataFrame, *, fallback: bool) -> dict[str, np.ndarray]:
    """Range features of one symbol's complete rows, from the definitions, in NumPy.

    Per bar: Parkinson variance hl^2 / (4 ln 2), Garman-Klass term max(0.5 hl^2 - (2 ln 2 - 1) co^2, 0),
    range hl; with ``fallback``, a bar with high == low uses r^2, r^2 and sqrt(4 ln 2) |r| instead.
    """
    o, h, lo, c = (symbol_bars[col].to_numpy() for col in ("open", "high", "low", "close"))
    hl, co = np.log(h / lo), np.log(c / o)
    r = np.concatenate([[np.nan], np.diff(np.log(c))])
    park = hl**2 / (4 * math.log(2))
    gk = np.maximum(0.5 * hl**2 - (2 * math.log(2) - 1) * co**2, 0.0)
    hl_range = hl.copy()
    if fallback:
        flat = h == lo
        park = np.where(flat, r**2, park)
        gk = np.where(flat, r**2, gk)
        hl_range = np.where(flat, _SQRT_PARKINSON * np.abs(r), hl_range)
    rows = slice(LOOKBACK_BARS - 1, None)
    windows = np.lib.stride_tricks.sliding_window_view
    return {
        "parkinson_21": np.sqrt(windows(park, 21).mean(axis=1))[LOOKBACK_BARS - 21 :],
        "garman_klass_21": np.sqrt(windows(gk, 21).mean(axis=1))[LOOKBACK_BARS - 21 :],
        "hl_range": hl_range[rows],
    }


def test_closes_only_range_features_fall_back_to_close_to_close(bars):
    closes = _closes_only(bars, seed=21)
    frame = compute_features(closes)
    assert frame.height == 3 * (400 - LOOKBACK_BARS + 1)
    for symbol in ("AAA", "BBB", "CCC"):
        c = closes.filter(pl.col("symbol") == symbol)["close"].to_numpy()
        got = frame.filter(pl.col("symbol") == symbol)
        r = np.diff(np.log(c))
        # Row t's window holds the returns of bars t-20..t, i.e. r[t-21 .. t-1].
        root_mean = np.sqrt(np.lib.stride_tricks.sliding_window_view(r**2, 21).mean(axis=1))
        expected = root_mean[LOOKBACK_BARS - 22 :]
        assert len(expected) == got.height
        assert expected.min() > 0
        np.testing.assert_allclose(got["parkinson_21"].to_numpy(), expected, rtol=1e-12, atol=0)
        np.testing.assert_allclose(got["garman_klass_21"].to_numpy(), expected, rtol=1e-12, atol=0)
        np.testing.assert_allclose(
            got["hl_range"].to_numpy(), _SQRT_PARKINSON * np.abs(r[LOOKBACK_BARS - 2 :]), rtol=1e-12, atol=0
        )
        # Close-based features are those of any bars with these closes; the zero volume is neutral.
        np.testing.assert_allclose(
            got["rv_21"].to_numpy(),
            np.std(np.lib.stride_tricks.sliding_window_view(r, 21), axis=1, ddof=1)[LOOKBACK_BARS - 22 :],
            rtol=1e-9,
        )
        assert got["volume_z_21"].unique().to_list() == [0.0]
    assert frame.select(pl.col(FEATURE_COLUMNS).is_finite().all()).row(0) == (True,) * len(FEATURE_COLUMNS)


def test_bars_with_a_range_keep_their_range_features(bars):
    frame = compute_features(bars)
    for symbol in ("AAA", "BBB", "CCC"):
        symbol_bars = bars.filter(pl.col("symbol") == symbol)
        assert (symbol_bars["high"] > symbol_bars["low"]).all()
        got = frame.filter(pl.col("symbol") == symbol)
        expected = _range_reference(symbol_bars, fallback=False)
        for column in ("parkinson_21", "garman_klass_21"):
            np.testing.assert_allclose(got[column].to_numpy(), expected[column], rtol=1e-12, atol=0)
        assert got["hl_range"].to_list() == expected["hl_range"].tolist()


def test_frozen_bars_change_only_the_windows_that_hold_them(bars):
    times = bars["timestamp"].unique().sort()
    frozen_from, frozen_to = times[150], times[160]
    is_frozen = (pl.col("symbol") == "BBB") & pl.col("timestamp").is_between(frozen_from, frozen_to)
    mixed = bars.with_columns(
        [
            pl.when(is_frozen).then(pl.col("close")).otherwise(pl.col(c)).alias(c)
            for c in ("open", "high", "low")
        ]
    )
    before, after = compute_features(bars), compute_features(mixed)
    touched = (pl.col("symbol") == "BBB") & pl.col("timestamp").is_between(frozen_from, times[160 + 20])
    # Every row whose windows miss the frozen bars is unchanged bit for bit.
    assert before.filter(~touched).equals(after.filter(~touched))
    assert not before.filter(touched).equals(after.filter(touched))
    got = after.filter(pl.col("symbol") == "BBB")
    expected = _range_reference(mixed.filter(pl.col("symbol") == "BBB"), fallback=True)
    for column in ("parkinson_21", "garman_klass_21", "hl_range"):
        np.testing.assert_allclose(got[column].to_numpy(), expected[column], rtol=1e-12, atol=0)
    unchanged = [c for c in FEATURE_COLUMNS if c not in ("parkinson_21", "garman_klass_21", "hl_range")]
    assert before.select(unchanged).equals(after.select(unchanged))


def test_closes_only_last_rows_equal_the_batch_rows(bars, signals):
    closes = _closes_only(bars, seed=22)
    batch = compute_features(closes, signals)
    online = features_for_last_rows(
        closes.group_by("symbol", maintain_order=True).tail(LOOKBACK_BARS + 40), 32, signals
    )
    assert online.equals(batch.group_by("symbol", maintain_order=True).tail(32))
    for cut in (LOOKBACK_BARS - 1, 200, 399):
        end = closes["timestamp"].unique().sort()[cut]
        history = closes.filter(pl.col("timestamp") <= end)
        expected = _batch_last(compute_features(history, signals.filter(pl.col("timestamp") <= end)))
        one = history.filter(pl.col("symbol") == "CCC").tail(LOOKBACK_BARS)  # the one-symbol path
        assert features_for_last_bar(one, signals).equals(expected.filter(pl.col("symbol") == "CCC"))


def test_long_closes_only_history_equals_serving_across_batch_blocks():
    long = simulate_market(MarketSimConfig(symbols=("LNG",), n_bars=8400, seed=5))
    closes = _closes_only(long, seed=23)
    batch = compute_features(closes)  # more rows than one kernel block
    assert batch.height > 8192
    for cut in (LOOKBACK_BARS - 1 + 8191, LOOKBACK_BARS - 1 + 8192, closes.height - 1):
        window = closes.slice(cut - LOOKBACK_BARS - 2, LOOKBACK_BARS + 3)
        online = features_for_last_rows(window, 4)
        assert online.equals(batch.slice(cut - LOOKBACK_BARS - 2, 4)), cut
