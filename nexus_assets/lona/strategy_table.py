"""Lona strategies with the statistics of their latest completed backtest, as one table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from nexus_assets.lona.errors import LonaPayloadError
from nexus_assets.lona.signals import STAT_FIELDS, read_stats
from nexus_assets.lona.wire import parse_time

STRATEGY_SCHEMA: dict[str, pl.DataType] = {
    "strategy_id": pl.String(),
    "name": pl.String(),
    "description": pl.String(),
    "version": pl.String(),
    "language": pl.String(),
    "code": pl.String(),
    "report_id": pl.String(),
    "report_created_at": pl.Datetime("us", "UTC"),
    "total_return": pl.Float64(),
    "sharpe_ratio": pl.Float64(),
    "max_drawdown": pl.Float64(),
    "win_rate": pl.Float64(),
    "total_trades": pl.Int64(),
}
_TEXT_FIELDS = ("name", "description", "version", "language", "code")


def _text(strategy: Mapping[str, Any], field: str, index: int) -> str | None:
    value = strategy.get(field)
    if value is None or isinstance(value, str):
        return value
    if field == "version" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise LonaPayloadError(f"is not text: {value!r}", field=field, item_id=f"strategies[{index}]")


def strategy_row(strategy: Mapping[str, Any], report: Mapping[str, Any] | None, index: int) -> dict[str, Any]:
    """One table row; a strategy without a completed report keeps null statistics."""
    strategy_id = strategy.get("id")
    if not isinstance(strategy_id, str) or not strategy_id:
        raise LonaPayloadError(
            f"is missing or not text: {strategy_id!r}", field="id", item_id=f"strategies[{index}]"
        )
    row: dict[str, Any] = {"strategy_id": strategy_id, **{f: _text(strategy, f, index) for f in _TEXT_FIELDS}}
    row.update(dict.fromkeys(("report_id", "report_created_at", *STAT_FIELDS)))
    if report is not None:
        try:
            created = parse_time(report.get("created_at"))
        except ValueError as error:
            raise LonaPayloadError(str(error), field="created_at", item_id=str(report.get("id"))) from error
        row.update(
            read_stats(report.get("total_stats")), report_id=str(report["id"]), report_created_at=created
        )
    return row


def strategies_table(
    strategies: Sequence[Mapping[str, Any]], latest_reports: Mapping[str, Mapping[str, Any] | None]
) -> pl.DataFrame:
    """All strategies, sorted by id, joined with their latest completed report's statistics."""
    rows = [
        strategy_row(strategy, latest_reports.get(str(strategy.get("id"))), index)
        for index, strategy in enumerate(strategies)
    ]
    return pl.DataFrame(rows, schema=STRATEGY_SCHEMA).sort("strategy_id")
