"""A symbol's recent bars, read once into NumPy columns and summarised in one compiled pass.

The bar rules and the signal rules both read this window; serving builds it from the
request's arrays, batch from a polars table, and both end in ``bar_window``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import numba
import numpy as np
import polars as pl

from nexus_assets.ml.anomaly.rule_config import DEFAULT_BAR_INTERVAL, RuleConfig

BAR_WINDOW_COLUMNS: tuple[str, ...] = ("timestamp", "open", "high", "low", "close", "volume")
_US = 1_000_000
ONE_US = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DEFAULT_INTERVAL_US = int(DEFAULT_BAR_INTERVAL / ONE_US)
_INT64 = np.dtype(np.int64)
_FLOAT64 = np.dtype(np.float64)


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


def iso_time(us: int) -> str:
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
        return int(config.bar_interval / ONE_US)
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
