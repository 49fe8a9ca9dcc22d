"""Market bars: the raw material of every feature and model."""

import dagster as dg
import polars as pl

from nexus_assets.asset_metadata import frame_metadata
from nexus_assets.resources.market_data import MarketDataSource


@dg.asset(
    group_name="market",
    kinds={"polars", "parquet"},
    owners=["team:data-platform"],
    code_version="1",
    description=(
        "Daily OHLCV bars per symbol in one long table (symbol, timestamp UTC at the close, open, "
        "high, low, close, volume), validated before storage: a bad source row fails the run and "
        "leaves the previous materialization untouched. Source: the `market_data` resource "
        "(simulator by default, CSV/Parquet files, or Lona's symbols API)."
    ),
)
def market_bars(context: dg.AssetExecutionContext, market_data: MarketDataSource) -> dg.Output[pl.DataFrame]:
    bars = market_data.load_bars()
    per_symbol = bars.group_by("symbol").len().sort("symbol")
    context.log.info(
        f"loaded {bars.height} bars for {per_symbol.height} symbols from {market_data.describe_source()}"
    )
    return dg.Output(
        bars,
        metadata=frame_metadata(
            bars,
            source=market_data.describe_source(),
            symbols=per_symbol.height,
            first_bar=str(bars["timestamp"].min()),
            last_bar=str(bars["timestamp"].max()),
        ),
    )
