"""Each Lona strategy's live track record: what the service decided on its signals and how the
decided weight fared over the next bar.

The figures are the monitoring horizon's (one bar, the predictor's target) and gross of costs:
``gross_return`` is the sum over traded decisions of ``target_weight * (exp(next_return) - 1)``,
the simple return of the decided weight held for the bar after the decision. A decision whose
next bar has not closed counts as a decision, not as scored. Every strategy is measured on the
same rule, losers shown beside winners.
"""

from __future__ import annotations

import polars as pl

TRADED_ACTIONS = ("execute", "reduce")

TRACK_RECORD_SCHEMA: dict[str, pl.DataType] = {
    "strategy_id": pl.String(),
    "decisions": pl.Int64(),
    "executed": pl.Int64(),
    "reduced": pl.Int64(),
    "rejected": pl.Int64(),
    "halted": pl.Int64(),
    "scored": pl.Int64(),
    "traded": pl.Int64(),
    "hit_rate": pl.Float64(),
    "gross_return": pl.Float64(),
    "mean_gross_return": pl.Float64(),
    "first_decided_at": pl.Datetime("us", "UTC"),
    "last_decided_at": pl.Datetime("us", "UTC"),
}


def _count(action: str) -> pl.Expr:
    return (pl.col("action") == action).sum().cast(pl.Int64)


def strategy_track_record(predictions: pl.DataFrame, joined: pl.DataFrame) -> pl.DataFrame:
    """One row per strategy (``TRACK_RECORD_SCHEMA``): counts by action over every decision in
    ``predictions``, hit rate and gross return over the traded ones ``joined`` has scored.

    ``hit_rate`` is the share of scored trades whose weight had the next bar's sign (null with
    none); ``traded`` excludes zero weights and bars that did not move."""
    served = predictions.filter(pl.col("strategy_id").is_not_null())
    if served.is_empty():
        return pl.DataFrame(schema=TRACK_RECORD_SCHEMA)
    counts = served.group_by("strategy_id").agg(
        pl.len().cast(pl.Int64).alias("decisions"),
        _count("execute").alias("executed"),
        _count("reduce").alias("reduced"),
        _count("reject").alias("rejected"),
        _count("halt").alias("halted"),
        pl.col("decided_at").min().alias("first_decided_at"),
        pl.col("decided_at").max().alias("last_decided_at"),
    )
    scored = joined.filter(pl.col("strategy_id").is_not_null()).with_columns(
        traded=pl.col("action").is_in(TRADED_ACTIONS)
        & (pl.col("target_weight") != 0)
        & (pl.col("next_return") != 0),
        bar_return=pl.col("target_weight") * (pl.col("next_return").exp() - 1.0),
    )
    results = scored.group_by("strategy_id").agg(
        pl.len().cast(pl.Int64).alias("scored"),
        pl.col("traded").sum().cast(pl.Int64).alias("traded"),
        (pl.col("traded") & (pl.col("target_weight").sign() == pl.col("next_return").sign()))
        .sum()
        .alias("hits"),
        pl.col("bar_return").filter(pl.col("traded")).sum().alias("gross_return"),
    )
    table = counts.join(results, on="strategy_id", how="left").with_columns(
        pl.col("scored", "traded").fill_null(0),
        pl.col("gross_return").fill_null(0.0),
    )
    table = table.with_columns(
        hit_rate=pl.when(pl.col("traded") > 0).then(pl.col("hits") / pl.col("traded")),
        mean_gross_return=pl.when(pl.col("traded") > 0).then(pl.col("gross_return") / pl.col("traded")),
    )
    return table.select(list(TRACK_RECORD_SCHEMA)).cast(TRACK_RECORD_SCHEMA).sort("strategy_id")  # type: ignore[arg-type]
