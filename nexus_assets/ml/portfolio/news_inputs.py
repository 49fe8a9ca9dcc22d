"""What the allocation takes from the news and review assets: per-symbol sentiment, reviewed signals."""

from __future__ import annotations

import polars as pl

UNREVIEWED_SCALE = 0.5
"""A strategy newer than the latest review run is traded at half strength until it is reviewed."""


def latest_sentiment(sentiment: pl.DataFrame, bars: pl.DataFrame) -> dict[str, tuple[float, bool]]:
    """``(sentiment, shock)`` per symbol at that symbol's newest bar; symbols without a row are absent."""
    newest = bars.group_by("symbol").agg(pl.col("timestamp").max())
    rows = sentiment.join(newest, on=["symbol", "timestamp"]).select("symbol", "sentiment", "sentiment_shock")
    return {s: (float(v), bool(k)) for s, v, k in rows.iter_rows()}


def reviewed_signals(signals: pl.DataFrame, reviews: pl.DataFrame) -> pl.DataFrame:
    """Signals with ``review_scale`` and ``review_note`` from their strategy's verdict."""
    verdicts = reviews.select(
        "strategy_id",
        pl.col("strength_scale").alias("review_scale"),
        pl.when(pl.col("verdict") == "approve")
        .then(None)
        .otherwise(pl.format("{} by {}: {}", "verdict", "reviewer", "rationale"))
        .alias("review_note"),
    )
    joined = signals.join(verdicts, on="strategy_id", how="left")
    return joined.with_columns(
        pl.col("review_scale").fill_null(UNREVIEWED_SCALE),
        pl.when(pl.col("review_scale").is_null())
        .then(pl.lit("strategy not reviewed yet"))
        .otherwise(pl.col("review_note"))
        .alias("review_note"),
    )
