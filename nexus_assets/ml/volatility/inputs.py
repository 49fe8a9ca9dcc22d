"""Volatility-model inputs per symbol and bar, shared by training, the CLI and serving.

A bar's inputs use only that bar and the ``VOL_LOOKBACK_BARS - 1`` bars before it, and every
windowed mean is summed window-locally (``windows.window_sums``), so ``inputs_for_last_bar``
on a trailing window returns bit for bit the batch row: both run the one kernel, ``input_values``
(NumPy, so that serving one bar costs microseconds rather than a polars query).

Per bar t, with the previous close C[t-1]:
- ``ret_1``: close-to-close log return ln(C[t]/C[t-1]);
- ``var_1``: Garman-Klass range variance 0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2 plus the squared
  overnight gap ln(O[t]/C[t-1])^2, so a stock that gaps is not read as calm. It is zero for a
  bar with constant prices; the model floors it before taking logs;
- ``var_5``, ``var_22``: means of ``var_1`` over the last 5 and 22 bars;
- ``target_sq_return``: the next bar's squared log return (null at each symbol's last bar).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from nexus_assets.ml.bars import BAR_COLUMNS, PRICE_COLUMNS, validate_bars
from nexus_assets.ml.windows import newest_window_sums, tail

SHORT_WINDOW = 5
LONG_WINDOW = 22
VOL_LOOKBACK_BARS: int = LONG_WINDOW + 1
"""Bars a symbol needs before its inputs are complete: 22 range variances, each needing the previous close."""

INPUT_COLUMNS: tuple[str, ...] = ("ret_1", "var_1", f"var_{SHORT_WINDOW}", f"var_{LONG_WINDOW}")
TARGET_COLUMN = "target_sq_return"
KEY_COLUMNS: tuple[str, ...] = ("symbol", "timestamp")
_GK_CLOSE_WEIGHT = 2.0 * math.log(2.0) - 1.0
_ENGINE = "in-memory"


def checked_bars(bars: pl.DataFrame, *, source: str = "bars") -> pl.DataFrame:
    """Validate a canonical bar table (volume optional) and return it sorted by symbol and time.

    Raises ValueError (BarsValidationError) naming the column and row of the first problem.
    """
    if not isinstance(bars, pl.DataFrame):
        raise TypeError(f"{source}: expected a polars DataFrame, got {type(bars).__name__}")
    required = ("symbol", "timestamp", *PRICE_COLUMNS)
    missing = [c for c in required if c not in bars.columns]
    if missing:
        raise ValueError(f"{source}: missing required column(s): {', '.join(missing)}")
    for column in (c for c in (*PRICE_COLUMNS, "volume") if c in bars.columns):
        if not (bars.schema[column].is_numeric() or bars.schema[column] == pl.Null):
            raise ValueError(f"{source}: column '{column}' must be numeric, got {bars.schema[column]}")
    if not bars.schema["timestamp"].is_temporal():
        raise ValueError(
            f"{source}: column 'timestamp' must be a date or datetime, got {bars.schema['timestamp']}"
        )
    frame = bars if "volume" in bars.columns else bars.with_columns(volume=pl.lit(None, dtype=pl.Float64))
    if any(frame.schema[c] != pl.Float64 for c in (*PRICE_COLUMNS, "volume")):
        frame = frame.with_columns(pl.col(*PRICE_COLUMNS, "volume").cast(pl.Float64))
    return validate_bars(frame, source=source)


def input_values(bars: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
    """``ret_1`` and ``var_*`` for the newest ``rows`` rows of one bar column set (oldest first).

    ``bars`` holds float64 ``open``, ``high``, ``low`` and ``close`` with at least
    ``rows + VOL_LOOKBACK_BARS - 1`` values. Windows run over the whole column; rows whose
    lookback reaches into another symbol are the caller's to drop. The one kernel for the
    inputs: batch, walk-forward and serving all call it.
    """
    close = bars["close"]
    log_close = np.log(close)
    previous = log_close[:-1]
    # Aligned on the newest row: entry i belongs to bar i + 1 (bar 0 has no previous close).
    ret_1 = log_close[1:] - previous
    range_variance = np.maximum(
        0.5 * np.square(np.log(bars["high"] / bars["low"]))
        - _GK_CLOSE_WEIGHT * np.square(np.log(close / bars["open"])),
        0.0,
    )
    var_1 = range_variance[1:] + np.square(np.log(bars["open"][1:]) - previous)
    return {
        "ret_1": tail(ret_1, rows),
        "var_1": tail(var_1, rows),
        f"var_{SHORT_WINDOW}": newest_window_sums(var_1, SHORT_WINDOW, 1.0, rows) / SHORT_WINDOW,
        f"var_{LONG_WINDOW}": newest_window_sums(var_1, LONG_WINDOW, 1.0, rows) / LONG_WINDOW,
    }


def _bar_arrays(bars: pl.DataFrame) -> dict[str, np.ndarray]:
    return {name: bars.get_column(name).to_numpy() for name in PRICE_COLUMNS}


def volatility_inputs_lazy(bars: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Inputs and target for every bar of sorted, valid bars, plus a ``complete`` flag (false in warm-up).

    ``ret_1`` and ``var_1`` are null at each symbol's first bar; the window means are only
    meaningful on complete rows.
    """
    frame = bars.lazy().select(BAR_COLUMNS).collect() if isinstance(bars, pl.LazyFrame) else bars
    frame = frame.select(*KEY_COLUMNS, pl.col(*PRICE_COLUMNS).cast(pl.Float64))
    # NaN bars in front give every row a full window; NaN results (the table's first rows) become null.
    padding = np.full(VOL_LOOKBACK_BARS - 1, np.nan)
    padded = {name: np.concatenate([padding, values]) for name, values in _bar_arrays(frame).items()}
    with np.errstate(invalid="ignore"):
        values = input_values(padded, frame.height)
    inputs = pl.DataFrame(values).fill_nan(None)
    same_as_previous = pl.col("symbol") == pl.col("symbol").shift(1)
    same_as_next = pl.col("symbol") == pl.col("symbol").shift(-1)
    complete = (pl.col("symbol") == pl.col("symbol").shift(VOL_LOOKBACK_BARS - 1)).fill_null(False)
    return (
        pl.concat([frame.select(*KEY_COLUMNS), inputs], how="horizontal")
        .lazy()
        .with_columns(pl.when(same_as_previous).then(pl.col("ret_1", "var_1")).name.keep())
        .with_columns(
            pl.when(same_as_next).then(pl.col("ret_1").shift(-1).pow(2)).alias(TARGET_COLUMN),
            complete.alias("complete"),
        )
        .select(*KEY_COLUMNS, *INPUT_COLUMNS, TARGET_COLUMN, "complete")
    )


def _require_history(bars: pl.DataFrame, need: int, what: str) -> None:
    counts = bars.group_by("symbol").len().sort("len", "symbol")
    symbol, have = counts.row(0)
    if have < need:
        raise ValueError(f"bars: symbol {symbol!r} has {have} bar(s), {what} need(s) at least {need}")


def volatility_inputs(bars: pl.DataFrame) -> pl.DataFrame:
    """Complete input rows (warm-up dropped) with ``target_sq_return``, sorted by symbol and time.

    Every symbol must have at least ``VOL_LOOKBACK_BARS`` bars; bad bars raise ValueError naming
    the column and row.
    """
    checked = checked_bars(bars)
    _require_history(checked, VOL_LOOKBACK_BARS, "volatility inputs")
    return volatility_inputs_lazy(checked).filter(pl.col("complete")).drop("complete").collect(engine=_ENGINE)


def inputs_for_last_bar(bars_window: pl.DataFrame) -> pl.DataFrame:
    """Inputs of each symbol's newest bar from a trailing window of bars (the serving path).

    Equal, bit for bit, to the row ``volatility_inputs`` gives for that bar on the full history.
    """
    checked = checked_bars(bars_window)
    symbol = checked.get_column("symbol")
    if symbol[0] == symbol[-1]:
        # One symbol (checked bars are sorted by symbol): no grouping, no query.
        if checked.height < VOL_LOOKBACK_BARS:
            _require_history(checked, VOL_LOOKBACK_BARS, "volatility inputs")
        values = input_values(_bar_arrays(checked.tail(VOL_LOOKBACK_BARS)), 1)
        newest = checked.tail(1)
        return pl.DataFrame(
            {"symbol": newest.get_column("symbol"), "timestamp": newest.get_column("timestamp"), **values}
        )
    _require_history(checked, VOL_LOOKBACK_BARS, "volatility inputs")
    window = checked.group_by("symbol", maintain_order=True).tail(VOL_LOOKBACK_BARS)
    return (
        volatility_inputs_lazy(window)
        .group_by("symbol", maintain_order=True)
        .last()
        .select(*KEY_COLUMNS, *INPUT_COLUMNS)
        .collect(engine=_ENGINE)
    )
