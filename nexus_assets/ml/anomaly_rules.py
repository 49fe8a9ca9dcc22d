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
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from nexus_assets.ml.anomaly_inputs import VOL_FLOOR, column

CRITICAL = 1.0
WARNING = 0.99
DEFAULT_BAR_INTERVAL = timedelta(days=1)
"""Assumed bar spacing when neither the config nor a bar window gives one (daily bars)."""
BAR_WINDOW_COLUMNS: tuple[str, ...] = ("timestamp", "open", "high", "low", "close", "volume")
_US = 1_000_000


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
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * _US + delta.microseconds


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / _US, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, eq=False)
class BarWindow:
    """A symbol's recent bars as numpy arrays, read once and shared by bar and signal rules."""

    arrays: dict[str, np.ndarray]
    interval_us: int
    symbol: str | None

    @property
    def newest_us(self) -> int:
        return int(self.arrays["timestamp"].max())


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


def bar_interval_us(timestamps: np.ndarray | None, config: RuleConfig) -> int:
    """Expected bar spacing in microseconds: configured, else the window's median, else one day."""
    if config.bar_interval is not None:
        return int(config.bar_interval / timedelta(microseconds=1))
    if timestamps is not None and timestamps.size >= 2:
        spacing = np.diff(timestamps)
        spacing = spacing[spacing > 0]
        if spacing.size:
            # The upper median: a partial sort is several times cheaper than np.median here.
            middle = spacing.size // 2
            return int(np.partition(spacing, middle)[middle])
    return int(DEFAULT_BAR_INTERVAL / timedelta(microseconds=1))


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
    return BarWindow(arrays=arrays, interval_us=bar_interval_us(arrays["timestamp"], config), symbol=symbol)


def _integrity_hits(a: dict[str, np.ndarray]) -> list[RuleHit]:
    hits = []
    prices = np.stack([a[name] for name in ("open", "high", "low", "close")])
    bad = ~(prices > 0) | ~np.isfinite(prices)
    if bad.any():
        column = ("open", "high", "low", "close")[int(np.argmax(bad.any(axis=1)))]
        count = int(bad.any(axis=0).sum())
        hits.append(
            RuleHit(
                "bars_invalid_price",
                CRITICAL,
                f"{count} bar(s) with a missing or non-positive price ({column})",
            )
        )
    bad_volume = int((~(a["volume"] >= 0) | ~np.isfinite(a["volume"])).sum())
    if bad_volume:
        hits.append(
            RuleHit("bars_invalid_price", CRITICAL, f"{bad_volume} bar(s) with a missing or negative volume")
        )
    if (np.diff(a["timestamp"]) <= 0).any():
        hits.append(RuleHit("bars_unordered", CRITICAL, "bar timestamps are not strictly increasing"))
    return hits


def _timing_hits(stamps: np.ndarray, interval: int, now_us: int | None, config: RuleConfig) -> list[RuleHit]:
    hits = []
    spacing = np.diff(stamps)
    if spacing.size and spacing.max() > config.gap_factor * interval:
        at = int(np.argmax(spacing))
        hits.append(
            RuleHit(
                "bars_gap",
                WARNING,
                f"bars missing: {spacing[at] / interval:.1f} bar intervals between "
                f"{_iso(int(stamps[at]))} and {_iso(int(stamps[at + 1]))}",
            )
        )
    if now_us is not None:
        age = now_us - int(stamps[-1])
        skew = int(config.clock_skew / timedelta(microseconds=1))
        if age > config.stale_after_bars * interval:
            hits.append(
                RuleHit(
                    "bars_stale",
                    CRITICAL,
                    f"newest bar ({_iso(int(stamps[-1]))}) is {age / interval:.1f} bar intervals old",
                )
            )
        elif age < -skew:
            hits.append(
                RuleHit("bars_in_future", CRITICAL, f"newest bar ({_iso(int(stamps[-1]))}) is after now")
            )
    return hits


def _frozen_hits(a: dict[str, np.ndarray], config: RuleConfig) -> list[RuleHit]:
    hits = []
    n = config.flat_run
    if n > 0 and a["close"].size >= n:
        tail = np.stack([a[c][-n:] for c in ("open", "high", "low", "close")])
        if (tail == tail[0, 0]).all():
            hits.append(
                RuleHit(
                    "bars_constant_price", CRITICAL, f"last {n} bars have one constant price {tail[0, 0]:g}"
                )
            )
    n = config.zero_volume_run
    if n > 0 and a["volume"].size >= n and (a["volume"][-n:] == 0).all():
        hits.append(RuleHit("bars_zero_volume", CRITICAL, f"last {n} bars have zero volume"))
    return hits


def bar_rules(bars: pl.DataFrame | BarWindow, *, now: datetime | None, config: RuleConfig) -> list[RuleHit]:
    """Rules on the recent bar window (oldest first): integrity, gaps, staleness, frozen quotes.

    Raises ValueError when the window lacks a bar column or is empty.
    """
    window = bars if isinstance(bars, BarWindow) else read_bar_window(bars, config)
    a = window.arrays
    now_us = None if now is None else epoch_us(now, field="now")
    return [
        *_integrity_hits(a),
        *_timing_hits(a["timestamp"], window.interval_us, now_us, config),
        *_frozen_hits(a, config),
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
    """The feature rules that fire on one row, with reasons."""
    masks = feature_rule_masks(row, config)
    ret_1 = float(column(row, "ret_1")[0])
    vol = max(float(column(row, "rv_21")[0]), VOL_FLOOR)
    hits = []
    if masks["move_absurd"][0]:
        hits.append(
            RuleHit(
                "move_absurd", CRITICAL, f"one-bar move of {math.expm1(ret_1):+.1%} is not a plausible price"
            )
        )
    if masks["move_extreme"][0]:
        hits.append(
            RuleHit(
                "move_extreme",
                WARNING,
                f"one-bar move of {math.expm1(ret_1):+.2%} is {abs(ret_1) / vol:.1f}x recent volatility",
            )
        )
    return hits
