"""Lona strategies and the trading signals derived from their newest backtest trades."""

import dagster as dg
import polars as pl

from nexus_assets.asset_metadata import frame_metadata
from nexus_assets.lona.signal_batches import SIGNAL_BATCH_TAG
from nexus_assets.lona.signals import SIGNAL_SCHEMA, signals_from_report
from nexus_assets.lona.strategy_table import strategies_table
from nexus_assets.resources.lona import LonaGateway


@dg.asset(
    group_name="lona",
    kinds={"polars", "parquet"},
    owners=["team:trading"],
    code_version="1",
    description=(
        "Every Lona strategy (id, name, description, version, language, Backtrader code) with the "
        "statistics of its latest completed backtest report (total return, Sharpe, max drawdown, "
        "win rate, trades). Strategies without a completed report keep null statistics."
    ),
)
def lona_strategies(context: dg.AssetExecutionContext, lona: LonaGateway) -> dg.Output[pl.DataFrame]:
    with lona.client() as client:
        strategies = client.list_strategies()
        latest = {str(s["id"]): client.latest_completed_report(str(s["id"])) for s in strategies}
    table = strategies_table(strategies, latest)
    with_reports = table.filter(pl.col("report_id").is_not_null()).height
    context.log.info(f"{table.height} strategies, {with_reports} with a completed report")
    return dg.Output(
        table,
        # The code column is long; the preview shows everything else.
        metadata={
            **frame_metadata(table.drop("code"), strategies_with_reports=with_reports),
            "dagster/row_count": table.height,
        },
    )


@dg.asset(
    group_name="lona",
    kinds={"polars", "parquet"},
    owners=["team:trading"],
    code_version="1",
    description=(
        "Normalized signals from each strategy's latest completed report: entries become buy or "
        "sell, exits become flat. Columns: signal_id (stable across reports, so a signal is "
        "processed once), strategy_id, report_id, symbol, side, strength in [0, 1] from the "
        "strategy's backtest quality, timestamp, price and the strategy's backtest statistics."
    ),
)
def lona_signals(
    context: dg.AssetExecutionContext, lona: LonaGateway, lona_strategies: pl.DataFrame
) -> dg.Output[pl.DataFrame]:
    reported = lona_strategies.filter(pl.col("report_id").is_not_null())
    frames = [pl.DataFrame(schema=SIGNAL_SCHEMA)]
    with lona.client() as client:
        for strategy in reported.iter_rows(named=True):
            full = client.get_full_report(strategy["report_id"])
            frames.append(signals_from_report({"id": strategy["strategy_id"], **strategy}, full))
    signals = (
        pl.concat(frames).unique("signal_id", keep="last", maintain_order=True).sort("timestamp", "signal_id")
    )
    by_side = dict(signals.group_by("side").len().sort("side").iter_rows())
    context.log.info(f"{signals.height} signals from {reported.height} reports")
    # Runs launched by lona_signal_sensor carry the batch they were requested for.
    batch = context.run.tags.get(SIGNAL_BATCH_TAG, "none (not launched by lona_signal_sensor)")
    return dg.Output(
        signals,
        metadata=frame_metadata(
            signals,
            signal_batch=batch,
            reports_read=reported.height,
            signals_by_side=by_side or {"none": 0},
            newest_signal=str(signals["timestamp"].max()),
        ),
    )
