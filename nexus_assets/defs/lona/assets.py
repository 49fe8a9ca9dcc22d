"""Lona strategies and the trading signals derived from their newest backtest trades."""

from typing import Any

import dagster as dg
import polars as pl
from pydantic import Field

from nexus_assets.asset_metadata import frame_metadata
from nexus_assets.lona.client import LonaClient
from nexus_assets.lona.signal_batches import SIGNAL_BATCH_TAG
from nexus_assets.lona.signals import SIGNAL_SCHEMA, signals_from_report
from nexus_assets.lona.strategy_table import strategies_table
from nexus_assets.resources.lona import LonaGateway


class LonaStrategiesConfig(dg.Config):
    reports: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Strategy id to the report to read. Set by lona_signal_sensor to the reports of the batch "
            "it saw, so the run reads exactly those; a strategy left out then has no report in this "
            "run. Empty (the default): each strategy's newest completed report."
        ),
    )


def pinned_report(client: LonaClient, strategy_id: str, report_id: str) -> dict[str, Any]:
    """The report the run was pinned to, checked to be a completed report of that strategy."""
    report = client.get_report(report_id)
    if str(report["strategy_id"]) != strategy_id or report["status"] != "COMPLETED":
        raise dg.Failure(
            f"config reports[{strategy_id!r}]: report {report_id!r} is a {report['status']} report of "
            f"strategy {report['strategy_id']!r}, not a completed report of {strategy_id!r}"
        )
    return report


@dg.asset(
    group_name="lona",
    kinds={"polars", "parquet"},
    owners=["team:trading"],
    code_version="1",
    description=(
        "Every Lona strategy (id, name, description, version, language, Backtrader code) with the "
        "statistics of its latest completed backtest report (total return, Sharpe, max drawdown, "
        "win rate, trades), or of the report the run is pinned to (`reports` in its config, set by "
        "lona_signal_sensor). Strategies without a completed report keep null statistics."
    ),
)
def lona_strategies(
    context: dg.AssetExecutionContext, config: LonaStrategiesConfig, lona: LonaGateway
) -> dg.Output[pl.DataFrame]:
    with lona.client() as client:
        strategies = client.list_strategies()
        ids = [str(s["id"]) for s in strategies]
        if config.reports:
            latest = {
                sid: pinned_report(client, sid, config.reports[sid]) if sid in config.reports else None
                for sid in ids
            }
        else:
            latest = {sid: client.latest_completed_report(sid) for sid in ids}
    table = strategies_table(strategies, latest)
    with_reports = table.filter(pl.col("report_id").is_not_null()).height
    pinned = f" (pinned to {len(config.reports)} reports)" if config.reports else ""
    context.log.info(f"{table.height} strategies, {with_reports} with a completed report{pinned}")
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
