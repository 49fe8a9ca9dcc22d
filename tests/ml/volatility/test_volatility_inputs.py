"""Volatility inputs: the serving path equals the batch row, values match the definitions, bad bars fail clearly."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from nexus_assets.ml.volatility.inputs import (
    INPUT_COLUMNS,
    TARGET_COLUMN,
    VOL_LOOKBACK_BARS,
    inputs_for_last_bar,
    volatility_inputs,
)
from nexus_assets.sim.market import MarketSimConfig, simulate_market


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    return simulate_market(MarketSimConfig(symbols=("AAA", "BBB", "CCC"), n_bars=200, seed=5))


def _daily(closes: list[float], **columns: list[float]) -> pl.DataFrame:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    n = len(closes)
    frame = {
        "symbol": ["X"] * n,
        "timestamp": [start + timedelta(days=i) for i in range(n)],
        "open": columns.get("open", closes),
        "high": columns.get("high", [c * 1.01 for c in closes]),
        "low": columns.get("low", [c * 0.99 for c in closes]),
        "close": closes,
        "volume": [1.0] * n,
    }
    return pl.DataFrame(frame).with_columns(pl.col("timestamp").dt.cast_time_unit("us"))


@pytest.mark.parametrize("cut", [VOL_LOOKBACK_BARS - 1, VOL_LOOKBACK_BARS + 4, 120, 199])
def test_last_bar_inputs_equal_batch_bit_for_bit(bars, cut):
    end = bars["timestamp"].unique().sort()[cut]
    history = bars.filter(pl.col("timestamp") <= end)
    batch = volatility_inputs(history).group_by("symbol", maintain_order=True).last()
    window = history.group_by("symbol", maintain_order=True).tail(VOL_LOOKBACK_BARS + 7)
    online = inputs_for_last_bar(window)
    assert online.columns == ["symbol", "timestamp", *INPUT_COLUMNS]
    assert online.equals(batch.select(online.columns))


def test_inputs_match_the_definitions_by_hand():
    rng = np.random.default_rng(1)
    closes = list(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 40))))
    opens = [c * math.exp(g) for c, g in zip([100.0, *closes[:-1]], rng.normal(0, 0.004, 40), strict=True)]
    highs = [max(o, c) * 1.006 for o, c in zip(opens, closes, strict=True)]
    lows = [min(o, c) * 0.993 for o, c in zip(opens, closes, strict=True)]
    frame = _daily(closes, open=opens, high=highs, low=lows)
    inputs = volatility_inputs(frame)
    o, h, lo, c = (np.array(x) for x in (opens, highs, lows, closes))
    gk = 0.5 * np.log(h / lo) ** 2 - (2 * math.log(2) - 1) * np.log(c / o) ** 2
    var_1 = gk[1:] + np.log(o[1:] / c[:-1]) ** 2  # bar t's value sits at index t - 1
    t = VOL_LOOKBACK_BARS - 1
    first = inputs.row(0, named=True)
    assert inputs.height == 40 - t
    assert first["ret_1"] == pytest.approx(math.log(c[t] / c[t - 1]), rel=1e-12)
    assert first["var_1"] == pytest.approx(var_1[t - 1], rel=1e-12)
    assert first["var_5"] == pytest.approx(var_1[t - 5 : t].mean(), rel=1e-12)
    assert first["var_22"] == pytest.approx(var_1[t - 22 : t].mean(), rel=1e-12)
    assert first[TARGET_COLUMN] == pytest.approx(math.log(c[t + 1] / c[t]) ** 2, rel=1e-12)
    assert inputs[TARGET_COLUMN][-1] is None
    assert inputs[TARGET_COLUMN].null_count() == 1


def test_targets_never_cross_symbols(bars):
    inputs = volatility_inputs(bars)
    last = inputs.group_by("symbol", maintain_order=True).last()
    assert last[TARGET_COLUMN].null_count() == 3
    assert inputs[TARGET_COLUMN].null_count() == 3


def test_inputs_up_to_a_bar_ignore_later_bars(bars):
    cut = bars["timestamp"].unique().sort()[100]
    changed = bars.with_columns(
        pl.when(pl.col("timestamp") > cut).then(pl.col(c) * 3.0).otherwise(pl.col(c))
        for c in ("open", "high", "low", "close")
    )
    before = volatility_inputs(bars).filter(pl.col("timestamp") < cut)
    after = volatility_inputs(changed).filter(pl.col("timestamp") < cut)
    assert before.equals(after)


def test_constant_prices_give_zero_range_variance():
    inputs = volatility_inputs(_daily([50.0] * 30, high=[50.0] * 30, low=[50.0] * 30))
    assert inputs.select(INPUT_COLUMNS).to_numpy().tolist() == [[0.0] * 4] * (30 - VOL_LOOKBACK_BARS + 1)


def test_volume_is_optional(bars):
    assert volatility_inputs(bars.drop("volume")).equals(volatility_inputs(bars))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.with_columns(close=pl.lit(float("nan"))), "row 1, column 'close': value is not finite"),
        (lambda f: f.with_columns(low=pl.lit(0.0)), "column 'low': price must be positive"),
        (lambda f: f.with_columns(high=pl.col("low") * 0.5), "column 'high': high is below low"),
        (lambda f: f.drop("open"), "missing required column(s): open"),
        (lambda f: f.head(1), "has 1 bar(s), volatility inputs need(s) at least 23"),
        (lambda f: f.with_columns(pl.col("close").cast(pl.String)), "column 'close' must be numeric"),
        (lambda f: f.with_columns(volume=pl.lit("many")), "column 'volume' must be numeric"),
    ],
    ids=["nan", "zeros", "high-below-low", "missing-column", "one-row", "text-prices", "text-volume"],
)
def test_bad_bars_raise_a_clear_value_error(change, message):
    frame = change(_daily([10.0 + i for i in range(30)]))
    with pytest.raises(ValueError, match=f"^bars.*{re.escape(message)}"):
        volatility_inputs(frame)


def test_serving_path_needs_the_lookback(bars):
    short = bars.group_by("symbol", maintain_order=True).head(VOL_LOOKBACK_BARS - 1)
    with pytest.raises(ValueError, match="has 22 bar"):
        inputs_for_last_bar(short)
