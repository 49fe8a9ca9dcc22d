"""What happened after each prediction: the bar it was made on, the next bar's return, and the
naive forecasts made on the same bar, so live skill is judged against baselines on the same rows.

A decision is placed on the newest bar that had closed when it was made (an as-of join on its
``decided_at``); its outcome is that symbol's next bar. Until the next bar arrives the decision
is pending and left out. The targets are the training targets: the next bar's log return for
the predictor, its square for the volatility model (whose forecast is the standard deviation of
that return).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from nexus_assets.ml.predictor.sequences import MOMENTUM_FEATURE, MOMENTUM_SPAN
from nexus_assets.ml.volatility.baselines import ewma_forecasts

PREDICTION_COLUMNS = {
    "decision_id": pl.String,
    "decided_at": pl.Datetime("us", "UTC"),
    "symbol": pl.String,
    "predictor_version": pl.String,
    "volatility_version": pl.String,
    "anomaly_version": pl.String,
    "predicted_return": pl.Float64,
    "volatility_forecast": pl.Float64,
    "anomaly_score": pl.Float64,
    "confidence": pl.Float64,
    "target_weight": pl.Float64,
    "action": pl.String,
    "strategy_id": pl.String,
}
"""One served (or allocated) prediction per row; the versions are those that made it. ``action``
is the decision's (or the allocation line's); ``strategy_id`` the Lona strategy whose signal was
decided, null for an allocation (which weighs every strategy's signals on a symbol together)."""


def bar_outcomes(bars: pl.DataFrame, features: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per ``(symbol, timestamp)``: the next bar's log return and its square, the momentum
    forecast (the predictor's naive baseline: the 63-to-5-bar trend per bar, from ``features``
    when given) and the EWMA variance forecast (the volatility model's), both made at that bar."""
    ordered = bars.select("symbol", "timestamp", "close").sort("symbol", "timestamp")
    ordered = ordered.with_columns(
        log_return=(pl.col("close") / pl.col("close").shift(1)).log().over("symbol")
    ).with_columns(next_return=pl.col("log_return").shift(-1).over("symbol"))
    ewma = np.full(ordered.height, np.nan)
    starts = (
        ordered.with_row_index("row")
        .group_by("symbol", maintain_order=True)
        .agg(pl.col("row").first().alias("first"), pl.len().alias("n"))
    )
    returns = ordered["log_return"].to_numpy()
    for first, n in starts.select("first", "n").iter_rows():
        if n > 1:
            ewma[first + 1 : first + n] = ewma_forecasts(returns[first + 1 : first + n])
    ordered = ordered.with_columns(ewma_variance=pl.Series(ewma).fill_nan(None)).with_columns(
        pl.when(pl.col("ewma_variance") > 0).then(pl.col("ewma_variance")).otherwise(None)
    )
    if features is not None and MOMENTUM_FEATURE in features.columns:
        momentum = features.select(
            "symbol", "timestamp", (pl.col(MOMENTUM_FEATURE) / MOMENTUM_SPAN).alias("momentum_forecast")
        )
        ordered = ordered.join(momentum, on=["symbol", "timestamp"], how="left")
    else:
        ordered = ordered.with_columns(
            momentum_forecast=(
                (pl.col("close").shift(5) / pl.col("close").shift(63)).log() / MOMENTUM_SPAN
            ).over("symbol")
        )
    return ordered.drop("log_return")


def join_outcomes(predictions: pl.DataFrame, outcomes: pl.DataFrame) -> pl.DataFrame:
    """Each prediction with its bar and what followed; pending ones (no next bar yet) are dropped."""
    if predictions.is_empty():
        return predictions.with_columns(
            bar_time=pl.lit(None, pl.Datetime("us", "UTC")),
            next_return=pl.lit(None, pl.Float64),
            momentum_forecast=pl.lit(None, pl.Float64),
            ewma_variance=pl.lit(None, pl.Float64),
        )
    placed = predictions.sort("decided_at").join_asof(
        outcomes.rename({"timestamp": "bar_time"}).sort("bar_time"),
        left_on="decided_at",
        right_on="bar_time",
        by="symbol",
        strategy="backward",
        check_sortedness=False,  # both sides are sorted by time just above
    )
    return placed.filter(pl.col("next_return").is_not_null() & pl.col("bar_time").is_not_null())


def pending_count(predictions: pl.DataFrame, joined: pl.DataFrame) -> int:
    """Predictions whose next bar has not arrived yet (or that precede every bar)."""
    return predictions.height - joined.height
