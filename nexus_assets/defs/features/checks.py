"""Gates on features before any model trains on them."""

import dagster as dg
import polars as pl

from nexus_assets.ml import quality
from nexus_assets.ml.features import FEATURE_COLUMNS, KEY_COLUMNS, LOOKBACK_BARS


@dg.asset_check(asset="features", blocking=True, description="Every feature is present and finite.")
def features_finite(features: pl.DataFrame) -> dg.AssetCheckResult:
    bad = quality.null_counts(features, (*KEY_COLUMNS, *FEATURE_COLUMNS))
    return dg.AssetCheckResult(passed=not bad, metadata={"bad_values": bad or {"none": 0}})


@dg.asset_check(asset="features", blocking=True, description="One row per symbol and bar, in time order.")
def features_keys_unique(features: pl.DataFrame) -> dg.AssetCheckResult:
    duplicates = quality.duplicate_keys(features)
    unordered = quality.unordered_rows(features)
    return dg.AssetCheckResult(
        passed=duplicates == 0 and unordered == 0,
        metadata={"duplicate_rows": duplicates, "unordered_rows": unordered},
    )


@dg.asset_check(
    asset="features",
    additional_ins={"market_bars": dg.AssetIn("market_bars")},
    description=f"Every symbol with at least {LOOKBACK_BARS} bars has features for its newest bar.",
)
def features_cover_market(features: pl.DataFrame, market_bars: pl.DataFrame) -> dg.AssetCheckResult:
    newest = market_bars.group_by("symbol").agg(pl.col("timestamp").max(), pl.len().alias("bars"))
    expected = newest.filter(pl.col("bars") >= LOOKBACK_BARS).select(KEY_COLUMNS)
    missing = expected.join(features.select(KEY_COLUMNS), on=list(KEY_COLUMNS), how="anti")
    return dg.AssetCheckResult(
        passed=missing.is_empty(),
        metadata={"symbols_expected": expected.height, "symbols_missing": missing["symbol"].to_list()},
    )
