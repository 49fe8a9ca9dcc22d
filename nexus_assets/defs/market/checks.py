"""Quality gates on market bars; the structural ones block downstream steps when they fail."""

import os
from datetime import timedelta

import dagster as dg
import polars as pl

from nexus_assets.clock import now_utc
from nexus_assets.ml import quality
from nexus_assets.ml.bars import PRICE_COLUMNS

DEFAULT_MAX_BAR_AGE = timedelta(hours=96)


def max_bar_age() -> timedelta:
    """``NEXUS_MAX_BAR_AGE_HOURS``: four days by default, a long weekend of daily bars."""
    raw = os.environ.get("NEXUS_MAX_BAR_AGE_HOURS")
    if raw is None:
        return DEFAULT_MAX_BAR_AGE
    try:
        hours = float(raw)
    except ValueError as error:
        raise ValueError(f"NEXUS_MAX_BAR_AGE_HOURS: expected a number of hours, got {raw!r}") from error
    return timedelta(hours=hours)


@dg.asset_check(
    asset="market_bars", blocking=True, description="Prices positive; high >= open, close >= low."
)
def ohlc_consistent(market_bars: pl.DataFrame) -> dg.AssetCheckResult:
    broken = quality.ohlc_violations(market_bars)
    return dg.AssetCheckResult(passed=broken == 0, metadata={"violating_rows": broken})


@dg.asset_check(
    asset="market_bars", blocking=True, description="No duplicate and no out-of-order timestamps per symbol."
)
def timestamps_unique_and_ordered(market_bars: pl.DataFrame) -> dg.AssetCheckResult:
    duplicates = quality.duplicate_keys(market_bars)
    unordered = quality.unordered_rows(market_bars)
    return dg.AssetCheckResult(
        passed=duplicates == 0 and unordered == 0,
        metadata={"duplicate_rows": duplicates, "unordered_rows": unordered},
    )


@dg.asset_check(asset="market_bars", blocking=True, description="No nulls in symbol, timestamp or prices.")
def no_forbidden_nulls(market_bars: pl.DataFrame) -> dg.AssetCheckResult:
    nulls = quality.null_counts(market_bars, ("symbol", "timestamp", *PRICE_COLUMNS))
    return dg.AssetCheckResult(passed=not nulls, metadata={"null_counts": nulls or {"none": 0}})


@dg.asset_check(
    asset="market_bars",
    description="The newest bar is at most NEXUS_MAX_BAR_AGE_HOURS old (default 96 h). Warns, never blocks.",
)
def bars_fresh(market_bars: pl.DataFrame) -> dg.AssetCheckResult:
    limit = max_bar_age()
    age = quality.newest_age(market_bars, now_utc())
    passed = age is not None and age <= limit
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "newest_bar": str(market_bars["timestamp"].max()),
            "age_hours": round(age.total_seconds() / 3600, 2) if age is not None else -1.0,
            "max_age_hours": limit.total_seconds() / 3600,
        },
    )
