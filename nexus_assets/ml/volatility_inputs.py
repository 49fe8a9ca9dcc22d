"""Volatility-model inputs per symbol and bar, shared by training, the CLI and serving.

A bar's inputs use only that bar and the ``VOL_LOOKBACK_BARS - 1`` bars before it, and every
windowed mean is computed window-locally (polars' weighted rolling kernel evaluates each window
afresh), so ``inputs_for_last_bar`` on a trailing window returns bit for bit the batch row.

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

import polars as pl

from nexus_assets.ml.bars import BAR_COLUMNS, PRICE_COLUMNS, validate_bars

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
    frame = frame.with_columns(pl.col(*PRICE_COLUMNS, "volume").cast(pl.Float64))
    return validate_bars(frame, source=source)


def _window_mean(expr: pl.Expr, window: int) -> pl.Expr:
    return expr.fill_null(0.0).rolling_mean(window, weights=[1.0] * window)


def volatility_inputs_lazy(bars: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Inputs and target for every bar of sorted, valid bars, plus a ``complete`` flag (false in warm-up).

    Windows run over the whole symbol-sorted column: they reach into the previous symbol only
    in warm-up rows, which are flagged incomplete.
    """
    same_as_previous = pl.col("symbol") == pl.col("symbol").shift(1)
    same_as_next = pl.col("symbol") == pl.col("symbol").shift(-1)
    log_close = pl.col("close").log()
    previous_log_close = pl.when(same_as_previous).then(log_close.shift(1))
    range_variance = (
        0.5 * (pl.col("high") / pl.col("low")).log().pow(2)
        - _GK_CLOSE_WEIGHT * (pl.col("close") / pl.col("open")).log().pow(2)
    ).clip(lower_bound=0.0)
    gap = pl.col("open").log() - previous_log_close
    complete = (pl.col("symbol") == pl.col("symbol").shift(VOL_LOOKBACK_BARS - 1)).fill_null(False)
    return (
        bars.lazy()
        .select(BAR_COLUMNS)
        .with_columns(
            (log_close - previous_log_close).alias("ret_1"),
            (range_variance + gap.pow(2)).alias("var_1"),
        )
        .with_columns(
            _window_mean(pl.col("var_1"), SHORT_WINDOW).alias(f"var_{SHORT_WINDOW}"),
            _window_mean(pl.col("var_1"), LONG_WINDOW).alias(f"var_{LONG_WINDOW}"),
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
    _require_history(checked, VOL_LOOKBACK_BARS, "volatility inputs")
    window = checked.group_by("symbol", maintain_order=True).tail(VOL_LOOKBACK_BARS)
    return (
        volatility_inputs_lazy(window)
        .group_by("symbol", maintain_order=True)
        .last()
        .select(*KEY_COLUMNS, *INPUT_COLUMNS)
        .collect(engine=_ENGINE)
    )
