"""Each anomaly rule fires on a constructed case and stays quiet on ordinary data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from nexus_assets.ml.anomaly.bar_window import (
    BAR_WINDOW_COLUMNS,
    BarWindow,
    bar_interval_us,
    bar_window,
    epoch_us,
    read_bar_window,
)
from nexus_assets.ml.anomaly.inputs import REQUIRED_FEATURES, feature_matrix
from nexus_assets.ml.anomaly.rule_config import CRITICAL, WARNING, RuleConfig
from nexus_assets.ml.anomaly.rules import bar_rules, feature_rule_masks, feature_rule_severity, feature_rules
from nexus_assets.ml.anomaly.signal_rules import MarketContext, signal_rules
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


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat().replace("+00:00", "Z")


def _numpy_bar_rules(a: dict[str, np.ndarray], now_us: int | None, config: RuleConfig) -> list[tuple]:
    """The bar rules as whole-array NumPy expressions: the oracle for the compiled window summary."""
    hits = []
    stamps, prices = a["timestamp"], np.stack([a[c] for c in ("open", "high", "low", "close")])
    spacing = np.diff(stamps)
    positive = spacing[spacing > 0]
    if config.bar_interval is not None:
        interval = int(config.bar_interval / timedelta(microseconds=1))
    else:
        interval = int(np.sort(positive)[positive.size // 2]) if positive.size else DAY_US
    bad = ~(prices > 0) | ~np.isfinite(prices)
    if bad.any():
        column = ("open", "high", "low", "close")[int(np.argmax(bad.any(axis=1)))]
        reason = f"{int(bad.any(axis=0).sum())} bar(s) with a missing or non-positive price ({column})"
        hits.append(("bars_invalid_price", CRITICAL, reason))
    bad_volume = int((~(a["volume"] >= 0) | ~np.isfinite(a["volume"])).sum())
    if bad_volume:
        hits.append(
            ("bars_invalid_price", CRITICAL, f"{bad_volume} bar(s) with a missing or negative volume")
        )
    if (spacing <= 0).any():
        hits.append(("bars_unordered", CRITICAL, "bar timestamps are not strictly increasing"))
    if spacing.size and spacing.max() > config.gap_factor * interval:
        at = int(np.argmax(spacing))
        reason = (
            f"bars missing: {spacing[at] / interval:.1f} bar intervals between "
            f"{_iso(int(stamps[at]))} and {_iso(int(stamps[at + 1]))}"
        )
        hits.append(("bars_gap", WARNING, reason))
    if now_us is not None:
        age, newest = now_us - int(stamps[-1]), _iso(int(stamps[-1]))
        if age > config.stale_after_bars * interval:
            hits.append(
                ("bars_stale", CRITICAL, f"newest bar ({newest}) is {age / interval:.1f} bar intervals old")
            )
        elif age < -int(config.clock_skew / timedelta(microseconds=1)):
            hits.append(("bars_in_future", CRITICAL, f"newest bar ({newest}) is after now"))
    n = config.flat_run
    if n > 0 and stamps.size >= n and (prices[:, -n:] == prices[0, -n]).all():
        hits.append(
            ("bars_constant_price", CRITICAL, f"last {n} bars have one constant price {prices[0, -n]:g}")
        )
    n = config.zero_volume_run
    if n > 0 and stamps.size >= n and (a["volume"][-n:] == 0).all():
        hits.append(("bars_zero_volume", CRITICAL, f"last {n} bars have zero volume"))
    return hits


def _damaged(window: pl.DataFrame, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A random slice of ``window`` as NumPy columns, with one random defect (or none)."""
    size = int(rng.choice([1, 2, 3, 4, 8, 32]))
    start = int(rng.integers(0, window.height - size + 1))
    a = {name: np.array(values, copy=True) for name, values in read_bar_window(window, CONFIG).arrays.items()}
    a = {name: values[start : start + size] for name, values in a.items()}
    at, run = int(rng.integers(0, size)), int(rng.integers(1, size + 1))
    match int(rng.integers(0, 8)):
        case 1:  # frozen quote
            for name in ("open", "high", "low", "close"):
                a[name][-run:] = a["close"][-run]
        case 2:
            a["volume"][-run:] = 0.0
        case 3:
            a[str(rng.choice(BAR_WINDOW_COLUMNS[1:]))][at] = rng.choice([0.0, -1.0, np.nan, np.inf, -np.inf])
        case 4:  # out of order or duplicated
            a["timestamp"][at] = a["timestamp"][max(at - 1, 0)] - int(rng.integers(0, 3)) * DAY_US
        case 5:  # a gap
            a["timestamp"][at:] += int(rng.integers(1, 12)) * DAY_US
        case 6:  # extreme moves do not matter here, but a price of one bar jumps
            a["close"][at] *= 40.0
    return a


def test_compiled_bar_rules_equal_the_numpy_expressions(bars):
    """Random windows with frozen quotes, zero volume, bad prices, disorder and gaps, under three configs."""
    rng = np.random.default_rng(13)
    history = bars.filter(pl.col("symbol") == "BBB")
    configs = [
        CONFIG,
        RuleConfig(bar_interval=timedelta(hours=20)),
        RuleConfig(flat_run=1, zero_volume_run=1),
    ]
    fired = set()
    for _ in range(600):
        a = _damaged(history, rng)
        config = configs[int(rng.integers(0, len(configs)))]
        newest = int(a["timestamp"][-1])
        now_us = None if rng.random() < 0.2 else newest + int(rng.choice([-2, 3, 30, 200])) * 3_600_000_000
        now = None if now_us is None else datetime.fromtimestamp(now_us / 1e6, UTC)
        window = bar_window(a, config, "BBB")
        with np.errstate(divide="ignore", invalid="ignore"):
            expected = _numpy_bar_rules(a, now_us, config)
        hits = [(hit.code, hit.severity, hit.reason) for hit in bar_rules(window, now=now, config=config)]
        assert hits == expected
        fired.update(code for code, _, _ in hits)
        assert window.newest_us == int(a["timestamp"].max())
        assert window.interval_us == bar_interval_us(a["timestamp"], config)
        hand_made = BarWindow(arrays=a, interval_us=window.interval_us, symbol="BBB")
        assert bar_rules(hand_made, now=now, config=config) == bar_rules(window, now=now, config=config)
    assert fired == {
        "bars_invalid_price",
        "bars_unordered",
        "bars_gap",
        "bars_stale",
        "bars_in_future",
        "bars_constant_price",
        "bars_zero_volume",
    }


def test_bar_window_columns_must_line_up(window):
    arrays = {
        name: np.array(values, copy=True) for name, values in read_bar_window(window, CONFIG).arrays.items()
    }
    with pytest.raises(ValueError, match=f"column 'volume' has 5 values, 'timestamp' has {window.height}"):
        bar_window({**arrays, "volume": arrays["volume"][:5]}, CONFIG)
    with pytest.raises(ValueError, match="column 'timestamp' is float64, not integer epoch microseconds"):
        bar_window({**arrays, "timestamp": arrays["timestamp"].astype(np.float64)}, CONFIG)
    with pytest.raises(ValueError, match="column 'close' has 2 dimensions"):
        bar_window({**arrays, "close": arrays["close"][:, np.newaxis]}, CONFIG)
    as_lists = {name: values.tolist() for name, values in arrays.items() if name != "timestamp"}
    same = bar_window({"timestamp": arrays["timestamp"].astype(np.uint64), **as_lists}, CONFIG)
    assert same.summary == bar_window(arrays, CONFIG).summary


def test_signal_rules_read_a_single_row_as_the_matrix(window):
    falling = _row(ret_5=-0.10)
    as_matrix = signal_rules(_signal(window), _market(window, row=falling), CONFIG)
    assert signal_rules(_signal(window), _market(window, row=falling[0]), CONFIG) == as_matrix
    assert feature_rules(_row(ret_1=-0.06)[0], CONFIG) == feature_rules(_row(ret_1=-0.06), CONFIG)
