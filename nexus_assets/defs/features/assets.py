"""Model features, computed by the same code the decision service runs on each request."""

import dagster as dg
import polars as pl

from nexus_assets.asset_metadata import frame_metadata
from nexus_assets.ml.features import FEATURE_COLUMNS, LOOKBACK_BARS, compute_features


@dg.asset(
    group_name="features",
    kinds={"polars", "parquet"},
    owners=["team:ml"],
    code_version="1",
    # Follows market_bars and lona_signals whenever either is refreshed (schedule, sensor).
    automation_condition=dg.AutomationCondition.eager(),
    description=(
        "Per symbol and bar: returns (1, 5, 21 bars), realized, Parkinson and Garman-Klass "
        "volatility, momentum, RSI, MACD, volume z-score and Lona signal features, from "
        "`nexus_assets.ml.features`. Each row needs "
        f"{LOOKBACK_BARS} bars of history; warm-up rows are dropped. Signals count at the first "
        "bar that closes at or after their timestamp, so no row sees the future."
    ),
)
def features(
    context: dg.AssetExecutionContext, market_bars: pl.DataFrame, lona_signals: pl.DataFrame
) -> dg.Output[pl.DataFrame]:
    frame = compute_features(market_bars, lona_signals)
    context.log.info(
        f"{frame.height} feature rows from {market_bars.height} bars and {lona_signals.height} signals"
    )
    return dg.Output(
        frame,
        metadata=frame_metadata(
            frame,
            feature_count=len(FEATURE_COLUMNS),
            lookback_bars=LOOKBACK_BARS,
            symbols=frame["symbol"].n_unique(),
            signals_used=lona_signals.height,
        ),
    )
