"""Each anomaly rule fires on a constructed case and stays quiet on ordinary data."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from nexus_assets.ml.anomaly_inputs import REQUIRED_FEATURES, feature_matrix
from nexus_assets.ml.anomaly_rules import (
    BAR_WINDOW_COLUMNS,
    CRITICAL,
    WARNING,
    RuleConfig,
    bar_rules,
    bar_window,
    epoch_us,
    feature_rule_masks,
    feature_rule_severity,
    feature_rules,
    read_bar_window,
)
from nexus_assets.ml.anomaly_signal_rules import MarketContext, signal_rules
from nexus_assets.ml.features import LOOKBACK_BARS, compute_features
from nexus_assets.sim.market import MarketSimConfig, simulate_market

CONFIG = RuleConfig()
DAY_US = 86_400 * 1_000_000


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    return simulate_market(MarketSimConfig(symbols=("AAA", "BBB"), n_bars=400, seed=21))


@pytest.fixture(scope="module")
def window(bars: pl.DataFrame) -> pl.DataFrame:
    return bars.filter(pl.col("symbol") == "AAA").tail(LOOKBACK_BARS)


def _newest(window: pl.DataFrame) -> datetime:
    return window["timestamp"][-1]


def _codes(hits) -> list[str]:
    return [hit.code for hit in hits]


def _set_tail(window: pl.DataFrame, n: int, **values: float) -> pl.DataFrame:
    tail = pl.int_range(pl.len()) >= pl.len() - n
    return window.with_columns(
        pl.when(tail).then(pl.lit(value)).otherwise(pl.col(name)).alias(name)
        for name, value in values.items()
    )


def test_ordinary_windows_fire_no_bar_rule(bars):
    for symbol in ("AAA", "BBB"):
        history = bars.filter(pl.col("symbol") == symbol)
        for end in range(LOOKBACK_BARS, history.height, 37):
            window = history.slice(end - LOOKBACK_BARS, LOOKBACK_BARS)
            assert bar_rules(window, now=_newest(window) + timedelta(hours=3), config=CONFIG) == []


def test_weekend_is_not_stale_but_a_silent_feed_is(window):
    friday = window.filter(pl.col("timestamp").dt.weekday() == 5).tail(1)["timestamp"][0]
    up_to_friday = window.filter(pl.col("timestamp") <= friday)
    monday_before_close = friday + timedelta(days=3, hours=-1)
    assert bar_rules(up_to_friday, now=monday_before_close, config=CONFIG) == []
    hits = bar_rules(window, now=_newest(window) + timedelta(days=6), config=CONFIG)
    assert _codes(hits) == ["bars_stale"]
    assert hits[0].severity == CRITICAL
    assert "6.0 bar intervals old" in hits[0].reason


def test_bars_from_the_future_fire(window):
    assert _codes(bar_rules(window, now=_newest(window) - timedelta(hours=1), config=CONFIG)) == [
        "bars_in_future"
    ]


def test_without_now_staleness_is_not_judged(window):
    assert bar_rules(window, now=None, config=CONFIG) == []


def test_missing_bars_fire_the_gap_rule(window):
    holed = pl.concat([window.head(20), window.slice(27)])
    hits = bar_rules(holed, now=None, config=CONFIG)
    assert _codes(hits) == ["bars_gap"]
    assert hits[0].severity == WARNING
    assert bar_rules(pl.concat([window.head(20), window.slice(22)]), now=None, config=CONFIG) == []


def test_configured_interval_overrides_the_median(window):
    hourly = RuleConfig(bar_interval=timedelta(hours=1))
    assert "bars_gap" in _codes(bar_rules(window, now=None, config=hourly))


def test_unordered_and_invalid_bars_fire(window):
    swapped = pl.concat([window.head(10), window.slice(11, 1), window.slice(10, 1), window.slice(12)])
    assert _codes(bar_rules(swapped, now=None, config=CONFIG)) == ["bars_unordered"]
    zero = _set_tail(window, 1, close=0.0)
    assert _codes(bar_rules(zero, now=None, config=CONFIG)) == ["bars_invalid_price"]
    nan = _set_tail(window, 1, volume=float("nan"))
    assert _codes(bar_rules(nan, now=None, config=CONFIG)) == ["bars_invalid_price"]


def test_frozen_prices_fire_only_after_a_run(window):
    price = float(window["close"][-4])
    frozen = _set_tail(window, 3, open=price, high=price, low=price, close=price)
    hits = bar_rules(frozen, now=None, config=CONFIG)
    assert _codes(hits) == ["bars_constant_price"]
    assert hits[0].severity == CRITICAL
    short = _set_tail(window, 2, open=price, high=price, low=price, close=price)
    assert bar_rules(short, now=None, config=CONFIG) == []


def test_zero_volume_run_fires(window):
    assert _codes(bar_rules(_set_tail(window, 3, volume=0.0), now=None, config=CONFIG)) == [
        "bars_zero_volume"
    ]
    assert bar_rules(_set_tail(window, 2, volume=0.0), now=None, config=CONFIG) == []


def test_bar_window_input_errors(window):
    with pytest.raises(ValueError, match="missing column\\(s\\) 'volume'"):
        bar_rules(window.drop("volume"), now=None, config=CONFIG)
    with pytest.raises(ValueError, match="no bars"):
        bar_rules(window.head(0), now=None, config=CONFIG)
    with pytest.raises(ValueError, match="not a datetime"):
        bar_rules(window.with_columns(pl.col("timestamp").cast(pl.String)), now=None, config=CONFIG)


def _row(**overrides: float) -> np.ndarray:
    values = dict.fromkeys(REQUIRED_FEATURES, 0.0)
    values.update(rv_21=0.01, parkinson_21=0.01, hl_range=0.015)
    values.update(overrides)
    return feature_matrix(values)


def test_move_rules_fire_on_extreme_and_absurd_moves():
    assert feature_rules(_row(ret_1=0.02), CONFIG) == []
    extreme = feature_rules(_row(ret_1=-0.06), CONFIG)
    assert _codes(extreme) == ["move_extreme"]
    assert "6.0x recent volatility" in extreme[0].reason
    absurd = feature_rules(_row(ret_1=0.7, rv_21=0.2), CONFIG)
    assert _codes(absurd) == ["move_absurd"]
    assert absurd[0].severity == CRITICAL


def test_move_rules_are_rare_on_simulated_history(bars):
    matrix = feature_matrix(compute_features(bars))
    masks = feature_rule_masks(matrix, CONFIG)
    assert not masks["move_absurd"].any()
    assert masks["move_extreme"].mean() < 0.01
    severity = feature_rule_severity(matrix, CONFIG)
    assert set(np.unique(severity)) <= {0.0, WARNING}


def _market(
    window: pl.DataFrame, row: np.ndarray | None = None, now: datetime | None = None
) -> MarketContext:
    return MarketContext(
        symbol="AAA",
        newest_bar_us=epoch_us(_newest(window), field="t"),
        interval_us=DAY_US,
        now=now,
        row=_row() if row is None else row,
    )


def _signal(window: pl.DataFrame, **overrides: object) -> dict[str, object]:
    signal = {
        "signal_id": "sig-1",
        "strategy_id": "st-1",
        "symbol": "AAA",
        "side": "buy",
        "strength": 0.8,
        "timestamp": _newest(window) + timedelta(hours=2),
    }
    signal.update(overrides)
    return signal


def test_an_ordinary_signal_fires_nothing(window):
    now = _newest(window) + timedelta(hours=3)
    assert signal_rules(_signal(window), _market(window, now=now), CONFIG) == []
    iso = (_newest(window) - timedelta(hours=5)).isoformat().replace("+00:00", "Z")
    assert signal_rules(_signal(window, timestamp=iso), _market(window, now=now), CONFIG) == []


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"side": "hold"}, "signal_unknown_side"),
        ({"side": None}, "signal_unknown_side"),
        ({"strength": 1.5}, "signal_bad_strength"),
        ({"strength": float("nan")}, "signal_bad_strength"),
        ({"strength": True}, "signal_bad_strength"),
        ({"strength": "0.5"}, "signal_bad_strength"),
        ({"symbol": "ZZZ"}, "signal_symbol_mismatch"),
        ({"timestamp": "yesterday"}, "signal_bad_timestamp"),
        ({"timestamp": None}, "signal_bad_timestamp"),
    ],
)
def test_malformed_signals_fire(window, overrides, code):
    hits = signal_rules(_signal(window, **overrides), _market(window), CONFIG)
    assert _codes(hits) == [code]
    assert hits[0].severity == CRITICAL


def test_signal_time_rules(window):
    now = _newest(window) + timedelta(hours=3)
    future = signal_rules(
        _signal(window, timestamp=now + timedelta(hours=1)), _market(window, now=now), CONFIG
    )
    assert _codes(future) == ["signal_in_future"]
    old = signal_rules(
        _signal(window, timestamp=_newest(window) - timedelta(days=6)), _market(window), CONFIG
    )
    assert _codes(old) == ["signal_stale"]
    ahead = signal_rules(
        _signal(window, timestamp=_newest(window) + timedelta(days=5)), _market(window), CONFIG
    )
    assert _codes(ahead) == ["signal_ahead_of_bars"]


def test_strong_signal_against_a_sharp_move_fires(window):
    falling = _row(ret_5=-0.10)
    hits = signal_rules(_signal(window), _market(window, row=falling), CONFIG)
    assert _codes(hits) == ["signal_against_market"]
    assert "falling" in hits[0].reason
    rising = _row(ret_5=0.10)
    assert _codes(signal_rules(_signal(window, side="sell"), _market(window, row=rising), CONFIG)) == [
        "signal_against_market"
    ]
    assert signal_rules(_signal(window, strength=0.3), _market(window, row=falling), CONFIG) == []
    assert signal_rules(_signal(window, side="sell"), _market(window, row=falling), CONFIG) == []
    assert signal_rules(_signal(window, side="flat"), _market(window, row=falling), CONFIG) == []


def test_a_non_mapping_signal_is_malformed(window):
    assert _codes(signal_rules(["buy"], _market(window), CONFIG)) == ["signal_malformed"]  # type: ignore[arg-type]


def test_rule_config_round_trips_and_rejects_unknown_fields():
    config = RuleConfig(bar_interval=timedelta(minutes=5), gap_factor=7.0)
    assert RuleConfig.from_dict(config.to_dict()) == config
    assert RuleConfig.from_dict(RuleConfig().to_dict()) == RuleConfig()
    with pytest.raises(ValueError, match="unknown field\\(s\\) gap"):
        RuleConfig.from_dict({"gap": 3})


def test_numpy_bar_window_fires_the_same_rules_as_the_table(window):
    """Serving builds the window from NumPy columns; it must judge bars exactly as the table path."""
    cases = [
        window,
        _set_tail(window, 3, volume=0.0),
        _set_tail(window, 1, close=0.0),
        pl.concat([window.head(10), window.slice(11, 1), window.slice(10, 1), window.slice(12)]),
    ]
    for case in cases:
        table = read_bar_window(case, CONFIG)
        arrays = {name: np.array(values, copy=True) for name, values in table.arrays.items()}
        numpy_window = bar_window(arrays, CONFIG, table.symbol)
        assert numpy_window.interval_us == table.interval_us
        for now in (None, _newest(window) + timedelta(days=10)):
            assert bar_rules(numpy_window, now=now, config=CONFIG) == bar_rules(case, now=now, config=CONFIG)
    with pytest.raises(ValueError, match="no bars"):
        bar_window({name: np.array([]) for name in BAR_WINDOW_COLUMNS}, CONFIG)
