"""Gates on Lona signals: malformed signals must never reach features or decisions."""

import dagster as dg
import polars as pl

from nexus_assets.ml import quality

_REQUIRED = ("signal_id", "strategy_id", "symbol", "side", "strength", "timestamp")


@dg.asset_check(
    asset="lona_signals",
    blocking=True,
    description="Ids unique; side is buy, sell or flat; strength in [0, 1]; no nulls in required fields.",
)
def signals_well_formed(lona_signals: pl.DataFrame) -> dg.AssetCheckResult:
    duplicates = lona_signals.height - lona_signals["signal_id"].n_unique()
    bad_side = lona_signals.filter(~pl.col("side").is_in(["buy", "sell", "flat"])).height
    bad_strength = lona_signals.filter(~pl.col("strength").is_between(0.0, 1.0)).height
    nulls = quality.null_counts(lona_signals, _REQUIRED)
    return dg.AssetCheckResult(
        passed=duplicates == 0 and bad_side == 0 and bad_strength == 0 and not nulls,
        metadata={
            "duplicate_ids": duplicates,
            "unknown_sides": bad_side,
            "strength_out_of_range": bad_strength,
            "null_counts": nulls or {"none": 0},
        },
    )


@dg.asset_check(
    asset="lona_signals",
    additional_ins={"market_bars": dg.AssetIn("market_bars")},
    description="Signals name symbols we have bars for; others cannot be priced. Warns, never blocks.",
)
def signals_match_market(lona_signals: pl.DataFrame, market_bars: pl.DataFrame) -> dg.AssetCheckResult:
    known = market_bars["symbol"].unique()
    unknown = lona_signals.filter(~pl.col("symbol").is_in(known.implode()))
    return dg.AssetCheckResult(
        passed=unknown.is_empty(),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "signals_without_bars": unknown.height,
            "unknown_symbols": sorted(unknown["symbol"].unique().to_list()),
        },
    )
