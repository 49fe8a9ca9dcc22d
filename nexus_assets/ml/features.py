"""Model features per symbol and bar, shared by the batch pipeline and the decision service.

Every feature depends only on a bounded trailing window of bars (``LOOKBACK_BARS``), and every
windowed statistic is computed window-locally (polars' weighted rolling kernels evaluate each
window afresh instead of sliding a running sum). That is what lets ``features_for_last_bar``,
given only the last ``LOOKBACK_BARS`` bars, return bit-for-bit the batch values: serving and
training see the same numbers. For the same reason the exponential averages of MACD are
truncated to a fixed window, and RSI uses simple averages (Cutler's RSI) rather than Wilder's
infinitely long recursion.
"""

from __future__ import annotations

import math

import polars as pl

from nexus_assets.ml.bars import BAR_COLUMNS

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
"""Window-heavy, single-pass query: the in-memory engine runs it faster than streaming."""
_SIDE_DIRECTION = {"buy": 1.0, "sell": -1.0, "flat": 0.0}


# Windows and lags run over the whole symbol-sorted column rather than per symbol: a window
# only reaches into the previous symbol during the first LOOKBACK_BARS - 1 bars of a symbol,
# and those warm-up rows are never complete, so they are dropped. Skipping the per-symbol
# partitioning halves the cost. Weighted kernels reject nulls; nulls only occur in the warm-up
# (lags) or in a missing volume column, which scores a neutral z of zero.


def _window_mean(expr: pl.Expr, window: int) -> pl.Expr:
    return expr.fill_null(0.0).rolling_mean(window, weights=[1.0] * window)


def _window_std(expr: pl.Expr, window: int) -> pl.Expr:
    # The weighted kernel divides by n; rescale to the sample standard deviation.
    correction = math.sqrt(window / (window - 1))
    return expr.fill_null(0.0).rolling_std(window, weights=[1.0] * window) * correction


def _window_sum(expr: pl.Expr, window: int) -> pl.Expr:
    return expr.fill_null(0.0).rolling_sum(window, weights=[1.0] * window)


def _truncated_ema(expr: pl.Expr, span: int) -> pl.Expr:
    """EMA (adjusted weights) over the last ``2 * span`` bars only, newest weighted most."""
    window = _ema_window(span)
    decay = 1.0 - 2.0 / (span + 1.0)
    weights = [decay ** (window - 1 - i) for i in range(window)]
    return expr.fill_null(0.0).rolling_mean(window, weights=weights)


def _lag(expr: pl.Expr, n: int) -> pl.Expr:
    return expr.shift(n)


def _signal_events(signals: pl.DataFrame | pl.LazyFrame | None, bars: pl.LazyFrame) -> pl.LazyFrame:
    """Per symbol and bar: net signed strength and count of signals first visible at that bar.

    A signal becomes visible at the first bar whose close time is at or after its timestamp, so
    nothing from the future leaks into a bar.
    """
    schema = {
        "symbol": pl.String,
        "timestamp": pl.Datetime("us", "UTC"),
        "sig_net": pl.Float64,
        "sig_n": pl.Float64,
    }
    if signals is None:
        return pl.LazyFrame(schema=schema)
    events = (
        signals.lazy()
        .select(
            "symbol",
            pl.col("timestamp").alias("signal_time"),
            (
                pl.col("side").replace_strict(_SIDE_DIRECTION, return_dtype=pl.Float64) * pl.col("strength")
            ).alias("signed"),
        )
        .sort("symbol", "signal_time")
    )
    # As-of joins with ``by`` need each group sorted by time; bars already are (symbol, time).
    bar_times = bars.select("symbol", "timestamp")
    assigned = events.join_asof(
        bar_times,
        left_on="signal_time",
        right_on="timestamp",
        by="symbol",
        strategy="forward",
        check_sortedness=False,
    ).drop_nulls("timestamp")
    return (
        assigned.group_by("symbol", "timestamp")
        .agg(pl.col("signed").sum().alias("sig_net"), pl.len().cast(pl.Float64).alias("sig_n"))
        .cast(schema)
    )


def _base_columns() -> list[pl.Expr]:
    """Per-bar transforms that several features reuse, materialized once."""
    return [
        pl.col("close").log().alias("_log_close"),
        (pl.col("high") / pl.col("low")).log().alias("hl_range"),
        (pl.col("close") / pl.col("open")).log().alias("_log_co"),
        pl.col("close").diff().alias("_change"),
        pl.col("volume").log1p().fill_null(0.0).alias("_log_volume"),
    ]


def _window_columns() -> list[pl.Expr]:
    log_close = pl.col("_log_close")
    ret_1 = log_close - _lag(log_close, 1)
    gk_term = (0.5 * pl.col("hl_range").pow(2) - (2.0 * math.log(2.0) - 1.0) * pl.col("_log_co").pow(2)).clip(
        lower_bound=0.0
    )
    close = pl.col("close")
    return [
        *((log_close - _lag(log_close, h)).alias(f"ret_{h}") for h in RETURN_HORIZONS),
        _window_std(ret_1, VOL_WINDOW).alias(f"rv_{VOL_WINDOW}"),
        (_window_mean(pl.col("hl_range").pow(2), VOL_WINDOW) / (4.0 * math.log(2.0)))
        .sqrt()
        .alias(f"parkinson_{VOL_WINDOW}"),
        _window_mean(gk_term, VOL_WINDOW).sqrt().alias(f"garman_klass_{VOL_WINDOW}"),
        (_lag(log_close, MOMENTUM_SKIP) - _lag(log_close, MOMENTUM_WINDOW)).alias(
            f"mom_{MOMENTUM_WINDOW}_{MOMENTUM_SKIP}"
        ),
        (close / _window_mean(close, VOL_WINDOW) - 1.0).alias(f"ma_gap_{VOL_WINDOW}"),
        _window_mean(pl.col("_change").clip(lower_bound=0.0), RSI_WINDOW).alias("_gains"),
        _window_mean((-pl.col("_change")).clip(lower_bound=0.0), RSI_WINDOW).alias("_losses"),
        ((_truncated_ema(close, MACD_FAST) - _truncated_ema(close, MACD_SLOW)) / close).alias("macd"),
        _window_mean(pl.col("_log_volume"), VOL_WINDOW).alias("_volume_mean"),
        _window_std(pl.col("_log_volume"), VOL_WINDOW).alias("_volume_std"),
        *(_window_sum(pl.col("sig_net"), w).alias(f"sig_net_{w}") for w in SIGNAL_WINDOWS),
        _window_sum(pl.col("sig_n"), max(SIGNAL_WINDOWS)).alias(f"sig_count_{max(SIGNAL_WINDOWS)}"),
    ]


def _derived_columns() -> list[pl.Expr]:
    moves = pl.col("_gains") + pl.col("_losses")
    volume_z = (pl.col("_log_volume") - pl.col("_volume_mean")) / pl.col("_volume_std")
    return [
        pl.when(moves > 0).then(100.0 * pl.col("_gains") / moves).otherwise(50.0).alias(f"rsi_{RSI_WINDOW}"),
        _truncated_ema(pl.col("macd"), MACD_SIGNAL).alias("macd_signal"),
        pl.when(pl.col("_volume_std") > 0).then(volume_z).otherwise(0.0).alias(f"volume_z_{VOL_WINDOW}"),
    ]


def _is_sorted_expr() -> pl.Expr:
    same_symbol = pl.col("symbol") == pl.col("symbol").shift(1)
    in_order = (pl.col("symbol") > pl.col("symbol").shift(1)) | (
        same_symbol & (pl.col("timestamp") > pl.col("timestamp").shift(1))
    )
    return in_order.fill_null(True).all()


def _sorted_bars(bars: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Bars in symbol/timestamp order; checking is far cheaper than re-sorting sorted input."""
    if isinstance(bars, pl.DataFrame) and bars.select(_is_sorted_expr()).item():
        return bars.lazy().select(BAR_COLUMNS)
    return bars.lazy().select(BAR_COLUMNS).sort("symbol", "timestamp")


def compute_features_lazy(
    bars: pl.DataFrame | pl.LazyFrame, signals: pl.DataFrame | pl.LazyFrame | None = None
) -> pl.LazyFrame:
    """Features for every bar plus a ``complete`` flag that is false during each symbol's warm-up."""
    ordered = _sorted_bars(bars)
    if signals is None:
        with_signals = ordered.with_columns(sig_net=pl.lit(0.0), sig_n=pl.lit(0.0))
    else:
        with_signals = ordered.join(
            _signal_events(signals, ordered),
            on=["symbol", "timestamp"],
            how="left",
            maintain_order="left",
        ).with_columns(pl.col("sig_net", "sig_n").fill_null(0.0))
    # Sorted input: a row is past its warm-up when the row LOOKBACK_BARS - 1 above is the same symbol.
    complete = (pl.col("symbol") == pl.col("symbol").shift(LOOKBACK_BARS - 1)).fill_null(False)
    return (
        with_signals.with_columns(_base_columns())
        .with_columns(_window_columns())
        .with_columns(_derived_columns())
        .with_columns(
            (pl.col("macd") - pl.col("macd_signal")).alias("macd_hist"),
            complete.alias("complete"),
        )
        .select(*KEY_COLUMNS, "close", *FEATURE_COLUMNS, "complete")
    )


def compute_features(
    bars: pl.DataFrame | pl.LazyFrame, signals: pl.DataFrame | pl.LazyFrame | None = None
) -> pl.DataFrame:
    """Complete feature rows (warm-up dropped) for every symbol and bar, sorted."""
    query = compute_features_lazy(bars, signals).filter(pl.col("complete")).drop("complete")
    return query.collect(engine=_ENGINE)


def features_for_last_rows(
    bars: pl.DataFrame, rows: int, signals: pl.DataFrame | pl.LazyFrame | None = None
) -> pl.DataFrame:
    """Features of each symbol's newest ``rows`` bars from a trailing window (the serving path).

    Needs ``LOOKBACK_BARS + rows - 1`` bars per symbol. Equal, bit for bit, to the rows
    ``compute_features`` gives for those bars on the full history.
    """
    if rows < 1:
        raise ValueError(f"rows: must be at least 1, got {rows}")
    needed = LOOKBACK_BARS + rows - 1
    counts = bars.group_by("symbol", maintain_order=True).len()
    short = counts.filter(pl.col("len") < needed)
    if not short.is_empty():
        symbol, have = short.row(0)
        raise ValueError(f"bars: symbol {symbol!r} has {have} bars, features need {needed}")
    window = bars.lazy().sort("symbol", "timestamp").group_by("symbol", maintain_order=True).tail(needed)
    return (
        compute_features_lazy(window, signals)
        .filter(pl.col("complete"))
        .drop("complete")
        .collect(engine=_ENGINE)
    )


def features_for_last_bar(
    bars: pl.DataFrame, signals: pl.DataFrame | pl.LazyFrame | None = None
) -> pl.DataFrame:
    """Features of each symbol's newest bar from a trailing window of bars."""
    return features_for_last_rows(bars, 1, signals)
