"""Model features per symbol and bar, shared by the batch pipeline and the decision service.

Every feature depends only on a bounded trailing window of bars (``LOOKBACK_BARS``), and every
windowed statistic is summed window-locally (``feature_kernel``: each window from its own
values, never a running sum). That is what lets ``features_for_last_rows``, given only the last
bars, return bit for bit the batch values: serving and training see the same numbers, because
both call the one kernel here, ``feature_matrix_values``. For the same reason the exponential averages
of MACD are truncated to a fixed window, and RSI uses simple averages (Cutler's RSI) rather than
Wilder's infinitely long recursion.

The range-based estimators (``parkinson_21``, ``garman_klass_21``, ``hl_range``) fall back, bar by
bar, to close-to-close estimators where a bar has no range (high == low: closes-only data, as a
wide close file becomes, or a frozen quote): such a bar's range is ``sqrt(4 ln 2) |r|`` for its
close-to-close log return ``r``, so its Parkinson variance and Garman-Klass term are ``r^2``.
Bars with a range are untouched.

The kernel is compiled (numba) over NumPy columns: a polars query costs ~0.1 ms before it
computes anything, which a sub-millisecond decision cannot afford. Polars still sorts the bars
and joins the signals.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from nexus_assets.ml.bars import BAR_COLUMNS
from nexus_assets.ml.feature_kernel import feature_rows
from nexus_assets.ml.windows import weight_sum

RETURN_HORIZONS: tuple[int, ...] = (1, 5, 21)
VOL_WINDOW = 21
MOMENTUM_WINDOW, MOMENTUM_SKIP = 63, 5
RSI_WINDOW = 14
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
EMA_SPAN_MULTIPLE = 2
SIGNAL_WINDOWS: tuple[int, ...] = (5, 21)

FEATURE_COLUMNS: tuple[str, ...] = (
    *(f"ret_{h}" for h in RETURN_HORIZONS),
    f"rv_{VOL_WINDOW}",
    f"parkinson_{VOL_WINDOW}",
    f"garman_klass_{VOL_WINDOW}",
    "hl_range",
    f"mom_{MOMENTUM_WINDOW}_{MOMENTUM_SKIP}",
    f"ma_gap_{VOL_WINDOW}",
    f"rsi_{RSI_WINDOW}",
    "macd",
    "macd_signal",
    "macd_hist",
    f"volume_z_{VOL_WINDOW}",
    *(f"sig_net_{w}" for w in SIGNAL_WINDOWS),
    f"sig_count_{max(SIGNAL_WINDOWS)}",
)
KEY_COLUMNS: tuple[str, ...] = ("symbol", "timestamp")


def _ema_window(span: int) -> int:
    return EMA_SPAN_MULTIPLE * span


LOOKBACK_BARS: int = max(
    MOMENTUM_WINDOW + 1,
    max(RETURN_HORIZONS) + VOL_WINDOW,
    _ema_window(MACD_SLOW) + _ema_window(MACD_SIGNAL) - 1,
    max(SIGNAL_WINDOWS),
)
"""Bars of history a symbol needs before its features are complete."""

_ENGINE = "in-memory"
"""Small joins and sorts: the in-memory engine starts far faster than streaming."""
_SIDE_DIRECTION = {"buy": 1.0, "sell": -1.0, "flat": 0.0}
_GK_CLOSE_WEIGHT = 2.0 * math.log(2.0) - 1.0
_PARKINSON_SCALE = 4.0 * math.log(2.0)
_BLOCK_ROWS = 8192
"""Rows per kernel call on a batch: small enough that a block's columns and doubling levels stay in cache."""
_ROUNDING = 1e-12
"""A window variance below this fraction of its mean square is rounding noise: the values are equal."""
_OUTPUT_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "timestamp": pl.Datetime("us", "UTC"),
    "close": pl.Float64(),
    **{name: pl.Float64() for name in FEATURE_COLUMNS},
}


def _decay(span: int) -> float:
    return 1.0 - 2.0 / (span + 1.0)


_PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
_NO_SIGNALS = np.zeros(0)
_HORIZONS = np.array(RETURN_HORIZONS, dtype=np.int64)
_SIGNAL_WINDOWS = np.array(SIGNAL_WINDOWS, dtype=np.int64)
_EMA_SPANS = (MACD_FAST, MACD_SLOW, MACD_SIGNAL)
_EMA_DECAYS = np.array([_decay(span) for span in _EMA_SPANS])
_EMA_WEIGHTS = np.array([weight_sum(_ema_window(span), _decay(span)) for span in _EMA_SPANS])


def feature_matrix_values(
    bars: dict[str, np.ndarray], rows: int, signals: dict[str, np.ndarray] | None = None
) -> np.ndarray:
    """``FEATURE_COLUMNS`` for the newest ``rows`` bars of one bar column set: a (features x rows) array.

    One contiguous row per feature, so a column of the feature table is a view, not a copy.

    ``bars`` holds float64 ``open``, ``high``, ``low``, ``close`` and ``volume`` (missing volume
    as 0) with at least ``rows + LOOKBACK_BARS - 1`` values, oldest first; ``signals`` the
    per-bar ``sig_net`` and ``sig_n`` (none means zero). Windows run over the whole column, so
    rows whose lookback reaches into another symbol are the caller's to drop. The one feature
    kernel (``feature_kernel.feature_rows``): batch and serving both call it.
    """
    close = bars["close"]
    if rows < 1 or close.shape[0] < rows + LOOKBACK_BARS - 1:
        raise ValueError(f"bars: {close.shape[0]} bars cannot give {rows} complete feature rows")
    columns = {name: np.ascontiguousarray(bars[name], dtype=np.float64) for name in _PRICE_COLUMNS}
    return feature_rows(
        columns["close"],
        np.log(columns["close"]),
        np.log(columns["high"] / columns["low"]),
        np.log(columns["close"] / columns["open"]),
        np.log1p(columns["volume"]),
        _NO_SIGNALS if signals is None else np.ascontiguousarray(signals["sig_net"], dtype=np.float64),
        _NO_SIGNALS if signals is None else np.ascontiguousarray(signals["sig_n"], dtype=np.float64),
        rows,
        _HORIZONS,
        VOL_WINDOW,
        MOMENTUM_WINDOW,
        MOMENTUM_SKIP,
        RSI_WINDOW,
        *(_ema_window(span) for span in _EMA_SPANS),
        _EMA_DECAYS,
        _EMA_WEIGHTS,
        _SIGNAL_WINDOWS,
        _GK_CLOSE_WEIGHT,
        _PARKINSON_SCALE,
        _ROUNDING,
    )


def acting_bars(bar_times_us: np.ndarray, signal_times_us: np.ndarray) -> np.ndarray:
    """The bar each signal acts at: its symbol's first bar at or after it (``len(bar_times_us)``
    for a signal after the newest bar). The one rule of features, the replay and the clusters."""
    return np.searchsorted(bar_times_us, signal_times_us, side="left")


def signal_columns(
    bar_times_us: np.ndarray, signal_times_us: np.ndarray, signed_strength: np.ndarray
) -> dict[str, np.ndarray]:
    """Per bar of one symbol: ``sig_net`` (net signed strength) and ``sig_n`` (count) of the signals
    first visible at that bar, the first bar whose time is at or after the signal's.

    Nothing from the future leaks into a bar; a signal after the newest bar counts nowhere yet.
    The one rule of batch and serving: the signals must come in the order ``signal_order`` gives,
    so both sum the same numbers in the same order (bit for bit).
    """
    at = acting_bars(bar_times_us, signal_times_us)
    seen = at < bar_times_us.shape[0]
    return {
        "sig_net": np.bincount(at[seen], weights=signed_strength[seen], minlength=bar_times_us.shape[0]),
        "sig_n": np.bincount(at[seen], minlength=bar_times_us.shape[0]).astype(np.float64),
    }


SIGNAL_ORDER: tuple[str, ...] = ("timestamp", "strategy_id", "side", "strength")
"""The order ``signal_columns`` sums a symbol's signals in."""


def _signal_arrays(signals: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    ordered = signals.sort(*(c for c in SIGNAL_ORDER if c in signals.columns))
    signed = ordered["side"].replace_strict(_SIDE_DIRECTION, return_dtype=pl.Float64) * ordered["strength"]
    return ordered["timestamp"].dt.epoch("us").to_numpy(), signed.to_numpy()


def _is_sorted_expr() -> pl.Expr:
    same_symbol = pl.col("symbol") == pl.col("symbol").shift(1)
    in_order = (pl.col("symbol") > pl.col("symbol").shift(1)) | (
        same_symbol & (pl.col("timestamp") > pl.col("timestamp").shift(1))
    )
    return in_order.fill_null(True).all()


def _one_symbol(bars: pl.DataFrame) -> bool:
    """True when every row is one symbol (a sorted column whose ends agree); cheap, no query."""
    symbol = bars.get_column("symbol")
    return bars.height > 0 and symbol.null_count() == 0 and symbol[0] == symbol[-1] and symbol.is_sorted()


def _sorted_bars(bars: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Bars in symbol/timestamp order; checking is far cheaper than re-sorting sorted input."""
    if isinstance(bars, pl.DataFrame):
        frame = bars if bars.columns == list(BAR_COLUMNS) else bars.select(BAR_COLUMNS)
        if _one_symbol(frame):
            if frame.get_column("timestamp").is_sorted():
                return frame
        elif frame.select(_is_sorted_expr()).item():
            return frame
        return frame.sort("symbol", "timestamp")
    return bars.lazy().select(BAR_COLUMNS).sort("symbol", "timestamp").collect(engine=_ENGINE)


def _float_column(frame: pl.DataFrame, name: str) -> np.ndarray:
    column = frame.get_column(name)
    if column.dtype != pl.Float64:
        column = column.cast(pl.Float64)
    if column.null_count():
        column = column.fill_null(0.0)
    return column.to_numpy()


def _signal_columns(
    ordered: pl.DataFrame, signals: pl.DataFrame | pl.LazyFrame | None
) -> dict[str, np.ndarray] | None:
    """``signal_columns`` of each symbol's bars, in the order of the sorted bars."""
    if signals is None:
        return None
    frame = (
        signals.lazy()
        .select(*(c for c in (*SIGNAL_ORDER, "symbol") if c in signals.collect_schema()))
        .collect()
    )
    frame = frame.with_columns(pl.col("timestamp").cast(pl.Datetime("us", "UTC")))
    by_symbol = {key[0]: part for key, part in frame.partition_by("symbol", as_dict=True).items()}
    net = np.zeros(ordered.height)
    count = np.zeros(ordered.height)
    stamps = ordered.get_column("timestamp").dt.epoch("us").to_numpy()
    symbols = ordered.get_column("symbol")
    start = 0
    for run in symbols.rle().struct.unnest().iter_rows(named=True):
        length, symbol = run["len"], run["value"]
        part = by_symbol.get(symbol)
        if part is not None:
            times, signed = _signal_arrays(part)
            columns = signal_columns(stamps[start : start + length], times, signed)
            net[start : start + length] = columns["sig_net"]
            count[start : start + length] = columns["sig_n"]
        start += length
    return {"sig_net": net, "sig_n": count}


def _features_of_sorted(
    ordered: pl.DataFrame, signals: pl.DataFrame | pl.LazyFrame | None, rows: int
) -> pl.DataFrame:
    """Keys, close and features of the newest ``rows`` rows of sorted bars (incomplete ones included)."""
    columns = {name: _float_column(ordered, name) for name in ("open", "high", "low", "close", "volume")}
    events = _signal_columns(ordered, signals)
    if rows <= _BLOCK_ROWS:
        matrix = feature_matrix_values(columns, rows, events)
    else:
        # Blocks bound the kernel's work arrays; window-local sums make the split invisible in the values.
        matrix = np.empty((len(FEATURE_COLUMNS), rows))
        first = ordered.height - rows
        for begin in range(0, rows, _BLOCK_ROWS):
            count = min(_BLOCK_ROWS, rows - begin)
            end = first + begin + count
            start = end - count - LOOKBACK_BARS + 1
            matrix[:, begin : begin + count] = feature_matrix_values(
                {name: values[start:end] for name, values in columns.items()},
                count,
                None if events is None else {name: values[start:end] for name, values in events.items()},
            )
    values = dict(zip(FEATURE_COLUMNS, matrix, strict=True))
    newest = ordered.slice(ordered.height - rows)
    return pl.DataFrame(
        {
            "symbol": newest.get_column("symbol"),
            "timestamp": newest.get_column("timestamp"),
            "close": columns["close"][ordered.height - rows :],
            **values,
        },
        schema=_OUTPUT_SCHEMA,
    )


def _complete(ordered: pl.DataFrame, rows: int) -> pl.Series:
    """Per newest row: its lookback stays within its own symbol (the bars are sorted)."""
    symbol = ordered.get_column("symbol")
    start = ordered.height - rows
    return symbol.slice(start) == symbol.slice(start - LOOKBACK_BARS + 1, rows)


def compute_features_lazy(
    bars: pl.DataFrame | pl.LazyFrame, signals: pl.DataFrame | pl.LazyFrame | None = None
) -> pl.LazyFrame:
    """Features for every bar plus a ``complete`` flag that is false during each symbol's warm-up.

    Features of the first ``LOOKBACK_BARS - 1`` rows of the table are null.
    """
    ordered = _sorted_bars(bars)
    rows = max(ordered.height - LOOKBACK_BARS + 1, 0)
    warm_up = ordered.head(ordered.height - rows).select(*KEY_COLUMNS, "close")
    parts = [warm_up.with_columns(pl.lit(None, dtype=pl.Float64).alias(c) for c in FEATURE_COLUMNS)]
    if rows:
        parts.append(_features_of_sorted(ordered, signals, rows))
    complete = (pl.col("symbol") == pl.col("symbol").shift(LOOKBACK_BARS - 1)).fill_null(False)
    return pl.concat(parts).lazy().with_columns(complete.alias("complete"))


def compute_features(
    bars: pl.DataFrame | pl.LazyFrame, signals: pl.DataFrame | pl.LazyFrame | None = None
) -> pl.DataFrame:
    """Complete feature rows (warm-up dropped) for every symbol and bar, sorted."""
    ordered = _sorted_bars(bars)
    rows = ordered.height - LOOKBACK_BARS + 1
    if rows <= 0:
        return pl.DataFrame(schema=_OUTPUT_SCHEMA)
    return _features_of_sorted(ordered, signals, rows).filter(_complete(ordered, rows))


def features_for_last_rows(
    bars: pl.DataFrame, rows: int, signals: pl.DataFrame | pl.LazyFrame | None = None
) -> pl.DataFrame:
    """Features of each symbol's newest ``rows`` bars from a trailing window (the serving path).

    Needs ``LOOKBACK_BARS + rows - 1`` bars per symbol. Equal, bit for bit, to the rows
    ``compute_features`` gives for those bars on the full history: both run ``feature_matrix_values``
    and every value depends only on its own window.
    """
    if rows < 1:
        raise ValueError(f"rows: must be at least 1, got {rows}")
    needed = LOOKBACK_BARS + rows - 1
    if _one_symbol(bars):
        # One symbol (every decision request): no grouping, no query, just the newest bars.
        if bars.height < needed:
            raise ValueError(
                f"bars: symbol {bars['symbol'][0]!r} has {bars.height} bars, features need {needed}"
            )
        ordered = _sorted_bars(bars)
        return _features_of_sorted(ordered.slice(ordered.height - needed), signals, rows)
    counts = bars.group_by("symbol", maintain_order=True).len()
    short = counts.filter(pl.col("len") < needed)
    if not short.is_empty():
        symbol, have = short.row(0)
        raise ValueError(f"bars: symbol {symbol!r} has {have} bars, features need {needed}")
    window = _sorted_bars(bars).group_by("symbol", maintain_order=True).tail(needed)
    return compute_features(window, signals)


def features_for_last_bar(
    bars: pl.DataFrame, signals: pl.DataFrame | pl.LazyFrame | None = None
) -> pl.DataFrame:
    """Features of each symbol's newest bar from a trailing window of bars."""
    return features_for_last_rows(bars, 1, signals)
