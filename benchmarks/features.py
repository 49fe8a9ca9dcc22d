"""Feature computation speed: ours (polars for sorting and joins, NumPy window kernels) against a straightforward pandas version.

Computes the same features for 500 symbols x 2,520 daily bars (plus Lona signals) both ways in
one process, checks that they agree, and prints the timings and the speed-up.
Run: `make bench` or `.venv/bin/python benchmarks/features.py [--symbols 500 --bars 2520]`.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import numpy as np
import pandas as pd
import polars as pl

from nexus_assets.ml.features import (
    FEATURE_COLUMNS,
    MACD_FAST,
    MACD_SIGNAL,
    MACD_SLOW,
    compute_features,
)
from nexus_assets.sim.market import MarketSimConfig, simulate_market


def make_signals(bars: pl.DataFrame, count: int, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    picks = bars.sample(count, seed=seed)
    return pl.DataFrame(
        {
            "symbol": picks["symbol"],
            "timestamp": picks["timestamp"]
            - pl.Series(rng.integers(0, 20, count)).cast(pl.Duration("us")) * 3_600_000_000,
            "side": rng.choice(["buy", "sell", "flat"], count),
            "strength": rng.uniform(0, 1, count),
        }
    )


def pandas_features(bars: pd.DataFrame, signals: pd.DataFrame) -> pd.DataFrame:
    """The same definitions written the way most pandas code would write them."""
    df = bars.sort_values(["symbol", "timestamp"]).reset_index(drop=True)
    g = df.groupby("symbol", sort=False)
    log_close = np.log(df["close"])
    df["ret_1"] = log_close - log_close.groupby(df["symbol"]).shift(1)
    for h in (5, 21):
        df[f"ret_{h}"] = log_close - log_close.groupby(df["symbol"]).shift(h)
    by = df["symbol"]
    df["rv_21"] = df["ret_1"].groupby(by).rolling(21).std().reset_index(level=0, drop=True)
    hl = np.log(df["high"] / df["low"])
    co = np.log(df["close"] / df["open"])
    df["parkinson_21"] = np.sqrt(
        (hl**2).groupby(by).rolling(21).mean().reset_index(level=0, drop=True) / (4 * math.log(2))
    )
    gk = (0.5 * hl**2 - (2 * math.log(2) - 1) * co**2).clip(lower=0)
    df["garman_klass_21"] = np.sqrt(gk.groupby(by).rolling(21).mean().reset_index(level=0, drop=True))
    df["hl_range"] = hl
    df["mom_63_5"] = log_close.groupby(by).shift(5) - log_close.groupby(by).shift(63)
    df["ma_gap_21"] = df["close"] / g["close"].rolling(21).mean().reset_index(level=0, drop=True) - 1
    change = g["close"].diff()
    gains = change.clip(lower=0).groupby(by).rolling(14).mean().reset_index(level=0, drop=True)
    losses = (-change).clip(lower=0).groupby(by).rolling(14).mean().reset_index(level=0, drop=True)
    df["rsi_14"] = np.where(gains + losses > 0, 100 * gains / (gains + losses), 50.0)

    def ema(values: pd.Series, span: int) -> pd.Series:
        window = 2 * span
        tau = -1.0 / math.log(1 - 2 / (span + 1))
        return values.groupby(by).transform(
            lambda s: s.rolling(window, win_type="exponential").mean(tau=tau, center=window - 1, sym=False)
        )

    df["macd"] = (ema(df["close"], MACD_FAST) - ema(df["close"], MACD_SLOW)) / df["close"]
    df["macd_signal"] = ema(df["macd"], MACD_SIGNAL)
    df["macd_hist"] = df["macd"] - df["macd_signal"]
    lv = np.log1p(df["volume"])
    mean = lv.groupby(by).rolling(21).mean().reset_index(level=0, drop=True)
    std = lv.groupby(by).rolling(21).std().reset_index(level=0, drop=True)
    df["volume_z_21"] = np.where(std > 0, (lv - mean) / std, 0.0)

    direction = signals["side"].map({"buy": 1.0, "sell": -1.0, "flat": 0.0})
    events = signals.assign(signed=direction * signals["strength"]).sort_values("timestamp")
    bar_times = df[["symbol", "timestamp"]].sort_values("timestamp")
    events = pd.merge_asof(
        events.rename(columns={"timestamp": "signal_time"}),
        bar_times.assign(bar_time=bar_times["timestamp"]),
        left_on="signal_time",
        right_on="timestamp",
        by="symbol",
        direction="forward",
    ).dropna(subset=["bar_time"])
    per_bar = events.groupby(["symbol", "bar_time"]).agg(sig_net=("signed", "sum"), sig_n=("signed", "size"))
    df = df.merge(per_bar, left_on=["symbol", "timestamp"], right_index=True, how="left")
    df[["sig_net", "sig_n"]] = df[["sig_net", "sig_n"]].fillna(0.0)
    by = df["symbol"]
    for w in (5, 21):
        df[f"sig_net_{w}"] = df["sig_net"].groupby(by).rolling(w).sum().reset_index(level=0, drop=True)
    df["sig_count_21"] = df["sig_n"].groupby(by).rolling(21).sum().reset_index(level=0, drop=True)
    df["bar_number"] = df.groupby("symbol").cumcount()
    return df


def timed(fn, repeats: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--bars", type=int, default=2520)
    parser.add_argument("--signals", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    symbols = tuple(f"S{i:04d}" for i in range(args.symbols))
    bars = simulate_market(MarketSimConfig(symbols=symbols, n_bars=args.bars, seed=1))
    signals = make_signals(bars, args.signals)
    print(
        f"data: {args.symbols} symbols x {args.bars} bars = {bars.height:,} rows, {signals.height:,} signals"
    )
    print(f"cores: {os.cpu_count()}, polars threads: {pl.thread_pool_size()}")

    compute_features(bars, signals)  # warm-up: first call pays one-off initialisation
    polars_times, ours = timed(lambda: compute_features(bars, signals), args.repeats)
    bars_pd, signals_pd = bars.to_pandas(), signals.to_pandas()
    pandas_times, theirs = timed(lambda: pandas_features(bars_pd, signals_pd), max(1, args.repeats // 3))

    from nexus_assets.ml.features import LOOKBACK_BARS

    reference = pl.from_pandas(
        theirs[theirs["bar_number"] >= LOOKBACK_BARS - 1][["symbol", "timestamp", *FEATURE_COLUMNS]]
    )
    reference = reference.with_columns(
        pl.col("timestamp").dt.cast_time_unit("us").dt.replace_time_zone("UTC")
    )
    joined = ours.join(reference, on=["symbol", "timestamp"], suffix="_pd")
    worst = max(
        float((joined[c] - joined[f"{c}_pd"]).abs().max() / max(1.0, float(joined[c].abs().max())))
        for c in FEATURE_COLUMNS
    )
    assert joined.height == ours.height == reference.height, "row sets differ"
    assert worst < 1e-6, f"ours and pandas disagree: {worst}"

    polars_median, pandas_median = statistics.median(polars_times), statistics.median(pandas_times)
    print(
        f"ours (polars + NumPy kernels): median {polars_median:.3f} s, best {min(polars_times):.3f} s over {len(polars_times)} runs"
    )
    print(
        f"pandas:        median {pandas_median:.3f} s, best {min(pandas_times):.3f} s over {len(pandas_times)} runs"
    )
    print(
        f"speed-up: {pandas_median / polars_median:.1f}x (median/median); max relative difference {worst:.1e}"
    )
    print(
        f"target: ours < 0.5 s and >= 4x: {'met' if polars_median < 0.5 and pandas_median / polars_median >= 4 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
