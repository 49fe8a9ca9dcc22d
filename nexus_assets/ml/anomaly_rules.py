"""Explicit anomaly rules on the bar window and the feature row, each with a reason code.

A learned score says "unusual"; a rule says why, in words an operator can check. Rules cover
what a model trained on clean history cannot be trusted to notice: bars that stopped arriving,
holes in the history, frozen prices, and moves no real market makes in one bar.

Severity: ``CRITICAL`` (1.0) means the data cannot be trusted and trading on it should stop;
``WARNING`` (0.99) equals the default threshold, so with the defaults it gates too, but a caller
who raises the threshold keeps only the critical rules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import numba
import numpy as np
import polars as pl

from nexus_assets.ml.anomaly_inputs import VOL_FLOOR, column, first_value

CRITICAL = 1.0
WARNING = 0.99
DEFAULT_BAR_INTERVAL = timedelta(days=1)
"""Assumed bar spacing when neither the config nor a bar window gives one (daily bars)."""
BAR_WINDOW_COLUMNS: tuple[str, ...] = ("timestamp", "open", "high", "low", "close", "volume")
_US = 1_000_000
_ONE_US = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DEFAULT_INTERVAL_US = int(DEFAULT_BAR_INTERVAL / _ONE_US)
_INT64 = np.dtype(np.int64)
_FLOAT64 = np.dtype(np.float64)
_PRICE_COLUMNS = ("open", "high", "low", "close")


@dataclass(frozen=True)
class RuleHit:
    """One rule that fired: a stable code for machines, a sentence for people."""

    code: str
    severity: float
    reason: str


@dataclass(frozen=True)
class RuleConfig:
    """Rule thresholds; saved with the model so that serving applies the ones it was evaluated with.

    Defaults suit daily bars of liquid instruments: a weekend plus a holiday is four bar
    intervals, so neither the stale, the gap nor the signal-lag rule fires on an ordinary
    calendar, with half an interval to spare for a bar that is a little late to arrive.
    """

    bar_interval: timedelta | None = None
    """Expected bar spacing; None uses the median spacing of the bar window (else one day)."""
    stale_after_bars: float = 4.5
    """Newest bar older than this many intervals at ``now``: the feed has stopped."""
    gap_factor: float = 5.0
    """Two consecutive bars further apart than this many intervals: bars are missing."""
    extreme_move_ratio: float = 3.5
    """|ret_1| above this many rv_21 (which includes the bar itself; 3.5 is about 5.5 sigma of
    the preceding 20 bars, and rv_21 including the bar caps the ratio near 4.5)."""
    absurd_log_move: float = 0.4
    """|ret_1| above this log return (+49% / -33% in one bar) is taken for bad data."""
    flat_run: int = 3
    """This many newest bars with open = high = low = close, all equal: a frozen quote."""
    zero_volume_run: int = 3
    """This many newest bars with zero volume: nothing is trading."""
    against_market_z: float = 3.0
    """A week's move (ret_5 / (rv_21 sqrt 5)) beyond this against the signal's side."""
    against_market_strength: float = 0.5
    """Only signals at least this strong count as betting against the market."""
    signal_lag_bars: float = 4.5
    """A signal further than this many intervals from the newest bar is out of step with it."""
    clock_skew: timedelta = timedelta(minutes=5)
    """Tolerance before a signal or bar timestamp counts as being in the future."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (durations in seconds)."""
        out = asdict(self)
        for name, value in out.items():
            if isinstance(value, timedelta):
                out[name] = value.total_seconds()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuleConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"rule config: unknown field(s) {', '.join(unknown)}")
        values = dict(data)
        for name in ("bar_interval", "clock_skew"):
            if values.get(name) is not None:
                values[name] = timedelta(seconds=float(values[name]))
        return cls(**values)


def epoch_us(value: Any, *, field: str) -> int:
    """Microseconds since the epoch of a datetime (naive means UTC) or an ISO 8601 string."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"{field}: not an ISO 8601 time: {value!r}") from exc
    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[us]").astype(np.int64))
    if not isinstance(value, datetime):
        raise ValueError(f"{field}: expected a datetime or ISO 8601 string, got {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _US + delta.microseconds


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / _US, UTC).isoformat().replace("+00:00", "Z")


class BarSummary(NamedTuple):
    """Everything the bar rules read from a window, from one compiled pass (``_window_summary``).

    Independent of the rule thresholds, so ``bar_window`` computes it once per window.
    """

    bad_price_bars: int
    """Bars with a missing, non-finite or non-positive open, high, low or close."""
    bad_price_column: int
    """Index in ``open, high, low, close`` of the first column with such a value; -1 if none."""
    bad_volume_bars: int
    """Bars with a missing, non-finite or negative volume."""
    unordered: bool
    """Some timestamp is not after the one before it."""
    gap_at: int
    """Index of the bar before the widest spacing (the first, on ties); -1 with one bar."""
    max_gap: int
    """That spacing (int64 arithmetic, as ``np.diff``)."""
    newest_us: int
    """The latest timestamp."""
    median_spacing: int
    """Upper median of the positive spacings; 0 when there are none."""
    flat_run: int
    """Newest bars in a row with open = high = low = close, all one price."""
    zero_volume_run: int
    """Newest bars in a row with zero volume."""


@numba.njit(cache=True, nogil=True)
def _upper_median_spacing(stamps: np.ndarray) -> int:
    """Upper median of the positive spacings of ``stamps`` (0 when there are none)."""
    spacing = np.empty(max(stamps.shape[0] - 1, 0), dtype=stamps.dtype)
    count = 0
    for i in range(1, stamps.shape[0]):
        step = stamps[i] - stamps[i - 1]
        if step > 0:
            spacing[count] = step
            count += 1
    if count == 0:
        return 0
    return np.sort(spacing[:count])[count // 2]


@numba.njit(cache=True, nogil=True)
def _window_summary(
    stamps: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
) -> tuple[int, int, int, bool, int, int, int, int, int, int]:
    """The ``BarSummary`` fields of equally long columns; one pass instead of some 25 NumPy calls."""
    n = stamps.shape[0]
    if n == 0:
        return 0, -1, 0, False, -1, 0, 0, 0, 0, 0
    bad_bars = bad_volume = 0
    bad_open = bad_high = bad_low = bad_close = False
    for i in range(n):
        # "not (0 < x < inf)" is "not x > 0 or not finite": NaN fails every comparison.
        o = not (0.0 < open_[i] < math.inf)
        h = not (0.0 < high[i] < math.inf)
        lo = not (0.0 < low[i] < math.inf)
        c = not (0.0 < close[i] < math.inf)
        if o or h or lo or c:
            bad_bars += 1
        bad_open |= o
        bad_high |= h
        bad_low |= lo
        bad_close |= c
        if not (0.0 <= volume[i] < math.inf):
            bad_volume += 1
    bad_column = 0 if bad_open else 1 if bad_high else 2 if bad_low else 3 if bad_close else -1
    unordered = False
    gap_at = -1
    max_gap = stamps[0] - stamps[0]  # a zero of the timestamps' type
    newest = stamps[0]
    for i in range(1, n):
        step = stamps[i] - stamps[i - 1]
        if step <= 0:
            unordered = True
        if gap_at < 0 or step > max_gap:
            gap_at = i - 1
            max_gap = step
        newest = max(newest, stamps[i])
    price = close[n - 1]
    flat = 0
    while flat < n:
        i = n - 1 - flat
        if not (open_[i] == price and high[i] == price and low[i] == price and close[i] == price):
            break
        flat += 1
    zero_volume = 0
    while zero_volume < n and volume[n - 1 - zero_volume] == 0.0:
        zero_volume += 1
    median = _upper_median_spacing(stamps)
    return bad_bars, bad_column, bad_volume, unordered, gap_at, max_gap, newest, median, flat, zero_volume


def _kernel_column(values: Any, name: str, dtype: np.dtype) -> np.ndarray:
    """``values`` as a one-dimensional array of ``dtype`` (the kernel's types), or ValueError."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"bars_window: column {name!r} has {values.ndim} dimensions, expected 1")
    if dtype is _INT64 and values.dtype.kind not in "iu":
        raise ValueError(f"bars_window: column {name!r} is {values.dtype}, not integer epoch microseconds")
    return values.astype(dtype)


def bar_summary(arrays: Mapping[str, Any]) -> BarSummary:
    """``BarSummary`` of a window's columns; ValueError unless they are 1-D, numeric and equally long."""
    stamps = arrays["timestamp"]
    if not (type(stamps) is np.ndarray and stamps.dtype is _INT64 and stamps.ndim == 1):
        stamps = _kernel_column(stamps, "timestamp", _INT64)
    n = stamps.shape[0]
    columns = []
    for name in BAR_WINDOW_COLUMNS[1:]:
        values = arrays[name]
        if not (type(values) is np.ndarray and values.dtype is _FLOAT64 and values.ndim == 1):
            values = _kernel_column(values, name, _FLOAT64)
        if values.shape[0] != n:
            raise ValueError(
                f"bars_window: column {name!r} has {values.shape[0]} values, 'timestamp' has {n}"
            )
        columns.append(values)
    return BarSummary._make(_window_summary(stamps, *columns))


@dataclass(frozen=True, eq=False)
class BarWindow:
    """A symbol's recent bars as numpy arrays, read once and shared by bar and signal rules."""

    arrays: dict[str, np.ndarray]
    interval_us: int
    symbol: str | None
    summary: BarSummary | None = field(default=None, repr=False)
    """``bar_summary(arrays)``, set by ``bar_window``; computed on demand when None."""

    def checks(self) -> BarSummary:
        """The window's ``BarSummary``, computed once by ``bar_window`` (or here, for a hand-made window)."""
        return self.summary if self.summary is not None else bar_summary(self.arrays)

    @property
    def newest_us(self) -> int:
        return self.checks().newest_us


def timestamps_us(stamps: pl.Series, *, field: str) -> np.ndarray:
    """Epoch microseconds of a polars datetime column (any time unit, any time zone)."""
    dtype = stamps.dtype
    if not isinstance(dtype, pl.Datetime):
        raise ValueError(f"{field}: {dtype}, not a datetime")
    raw = stamps.cast(pl.Int64).to_numpy()
    if dtype.time_unit == "ns":
        return raw // 1000
    if dtype.time_unit == "ms":
        return raw * 1000
    return raw


def _interval_us(median_spacing: int, config: RuleConfig) -> int:
    if config.bar_interval is not None:
        return int(config.bar_interval / _ONE_US)
    if median_spacing > 0:
        return int(median_spacing)
    return _DEFAULT_INTERVAL_US


def bar_interval_us(timestamps: np.ndarray | None, config: RuleConfig) -> int:
    """Expected bar spacing in microseconds: configured, else the window's (upper) median, else one day."""
    if config.bar_interval is None and timestamps is not None and timestamps.size >= 2:
        return _interval_us(_upper_median_spacing(np.asarray(timestamps)), config)
    return _interval_us(0, config)


def read_bar_window(bars: pl.DataFrame, config: RuleConfig) -> BarWindow:
    """Check and convert a bar window; raises ValueError when a column is missing or it is empty."""
    missing = [c for c in BAR_WINDOW_COLUMNS if bars.get_column(c, default=None) is None]
    if missing:
        raise ValueError(f"bars_window: missing column(s) {', '.join(map(repr, missing))}")
    if bars.height == 0:
        raise ValueError("bars_window: no bars")
    arrays = {"timestamp": timestamps_us(bars.get_column("timestamp"), field="bars_window.timestamp")}
    for name in BAR_WINDOW_COLUMNS[1:]:
        series = bars.get_column(name)
        arrays[name] = (series if series.dtype == pl.Float64 else series.cast(pl.Float64)).to_numpy()
    symbols = bars.get_column("symbol", default=None)
    return bar_window(arrays, config, None if symbols is None else symbols.item(-1))


def bar_window(arrays: dict[str, np.ndarray], config: RuleConfig, symbol: str | None = None) -> BarWindow:
    """A bar window from NumPy columns already in hand (serving has them; no table needed).

    ``arrays``: ``timestamp`` as int64 epoch microseconds and float64 ``open`` ... ``volume``,
    oldest first. ``read_bar_window`` ends here too, so both paths apply the same rules.
    """
    missing = [c for c in BAR_WINDOW_COLUMNS if c not in arrays]
    if missing:
        raise ValueError(f"bars_window: missing column(s) {', '.join(map(repr, missing))}")
    if arrays["timestamp"].size == 0:
        raise ValueError("bars_window: no bars")
    summary = bar_summary(arrays)
    return BarWindow(
        arrays=arrays,
        interval_us=_interval_us(summary.median_spacing, config),
        symbol=symbol,
        summary=summary,
    )


def _integrity_hits(summary: BarSummary) -> list[RuleHit]:
    hits = []
    if summary.bad_price_bars:
        hits.append(
            RuleHit(
                "bars_invalid_price",
                CRITICAL,
                f"{summary.bad_price_bars} bar(s) with a missing or non-positive price "
                f"({_PRICE_COLUMNS[summary.bad_price_column]})",
            )
        )
    if summary.bad_volume_bars:
        hits.append(
            RuleHit(
                "bars_invalid_price",
                CRITICAL,
                f"{summary.bad_volume_bars} bar(s) with a missing or negative volume",
            )
        )
    if summary.unordered:
        hits.append(RuleHit("bars_unordered", CRITICAL, "bar timestamps are not strictly increasing"))
    return hits


def _timing_hits(
    stamps: np.ndarray, summary: BarSummary, interval: int, now_us: int | None, config: RuleConfig
) -> list[RuleHit]:
    hits = []
    # float(): NumPy compared the int64 spacing with the float threshold as float64.
    if summary.gap_at >= 0 and float(summary.max_gap) > config.gap_factor * interval:
        at = summary.gap_at
        hits.append(
            RuleHit(
                "bars_gap",
                WARNING,
                f"bars missing: {np.int64(summary.max_gap) / interval:.1f} bar intervals between "
                f"{_iso(int(stamps[at]))} and {_iso(int(stamps[at + 1]))}",
            )
        )
    if now_us is not None:
        newest = int(stamps[-1])
        age = now_us - newest
        skew = int(config.clock_skew / _ONE_US)
        if age > config.stale_after_bars * interval:
            hits.append(
                RuleHit(
                    "bars_stale",
                    CRITICAL,
                    f"newest bar ({_iso(newest)}) is {age / interval:.1f} bar intervals old",
                )
            )
        elif age < -skew:
            hits.append(RuleHit("bars_in_future", CRITICAL, f"newest bar ({_iso(newest)}) is after now"))
    return hits


def _frozen_hits(a: dict[str, np.ndarray], summary: BarSummary, config: RuleConfig) -> list[RuleHit]:
    hits = []
    n = config.flat_run
    if n > 0 and summary.flat_run >= n:
        price = float(a["open"][-n])
        hits.append(
            RuleHit("bars_constant_price", CRITICAL, f"last {n} bars have one constant price {price:g}")
        )
    n = config.zero_volume_run
    if n > 0 and summary.zero_volume_run >= n:
        hits.append(RuleHit("bars_zero_volume", CRITICAL, f"last {n} bars have zero volume"))
    return hits


def bar_rules(bars: pl.DataFrame | BarWindow, *, now: datetime | None, config: RuleConfig) -> list[RuleHit]:
    """Rules on the recent bar window (oldest first): integrity, gaps, staleness, frozen quotes.

    Raises ValueError when the window lacks a bar column or is empty.
    """
    window = bars if isinstance(bars, BarWindow) else read_bar_window(bars, config)
    summary = window.checks()
    a = window.arrays
    now_us = None if now is None else epoch_us(now, field="now")
    return [
        *_integrity_hits(summary),
        *_timing_hits(a["timestamp"], summary, window.interval_us, now_us, config),
        *_frozen_hits(a, summary, config),
    ]


FEATURE_RULE_SEVERITY: dict[str, float] = {"move_absurd": CRITICAL, "move_extreme": WARNING}


def feature_rule_masks(matrix: np.ndarray, config: RuleConfig) -> dict[str, np.ndarray]:
    """Per rule code, which rows of a ``feature_matrix`` it fires on (vectorised, for batches)."""
    move = np.abs(column(matrix, "ret_1"))
    vol = np.maximum(column(matrix, "rv_21"), VOL_FLOOR)
    return {
        "move_absurd": move > config.absurd_log_move,
        "move_extreme": move > config.extreme_move_ratio * vol,
    }


def feature_rule_severity(matrix: np.ndarray, config: RuleConfig) -> np.ndarray:
    """Highest severity of the feature rules per row (0 where none fires)."""
    severity = np.zeros(np.atleast_2d(matrix).shape[0])
    for code, mask in feature_rule_masks(matrix, config).items():
        severity = np.maximum(severity, np.where(mask, FEATURE_RULE_SEVERITY[code], 0.0))
    return severity


def feature_rules(row: np.ndarray, config: RuleConfig) -> list[RuleHit]:
    """The feature rules that fire on one row (the first of a ``feature_matrix``), with reasons.

    Scalar floats, the same comparisons ``feature_rule_masks`` makes element-wise (a test holds
    the two equal): on one row they cost a tenth of the array calls.
    """
    ret_1 = first_value(row, "ret_1")
    vol = max(first_value(row, "rv_21"), VOL_FLOOR)
    move = abs(ret_1)
    hits = []
    if move > config.absurd_log_move:
        hits.append(
            RuleHit(
                "move_absurd", CRITICAL, f"one-bar move of {math.expm1(ret_1):+.1%} is not a plausible price"
            )
        )
    if move > config.extreme_move_ratio * vol:
        hits.append(
            RuleHit(
                "move_extreme",
                WARNING,
                f"one-bar move of {math.expm1(ret_1):+.2%} is {abs(ret_1) / vol:.1f}x recent volatility",
            )
        )
    return hits
