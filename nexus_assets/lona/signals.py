"""Signals derived from a strategy's backtest report.

Lona pushes nothing: a signal is a trade event in a strategy's latest completed report (long
entry = buy, short entry = sell, any exit = flat). Each event gets an id hashed from what it
is, not from the report it came from, so the same trade seen in tomorrow's report has the same
id and a sensor can process it exactly once.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

import polars as pl

from nexus_assets.lona.errors import LonaPayloadError
from nexus_assets.lona.wire import format_time, parse_time

SIGNAL_SCHEMA: dict[str, pl.DataType] = {
    "signal_id": pl.String(),
    "strategy_id": pl.String(),
    "report_id": pl.String(),
    "symbol": pl.String(),
    "side": pl.String(),
    "strength": pl.Float64(),
    "timestamp": pl.Datetime("us", "UTC"),
    "price": pl.Float64(),
    "total_return": pl.Float64(),
    "sharpe_ratio": pl.Float64(),
    "max_drawdown": pl.Float64(),
    "win_rate": pl.Float64(),
    "total_trades": pl.Int64(),
}
STAT_FIELDS: tuple[str, ...] = (
    "total_return",
    "sharpe_ratio",
    "max_drawdown",
    "win_rate",
    "total_trades",
)
ENTRY_SIDES: dict[str, str] = {"long": "buy", "short": "sell"}
_SHARPE_WEIGHT = 0.7
_TRADES_SCALE = 10.0


def empty_signals() -> pl.DataFrame:
    return pl.DataFrame(schema=SIGNAL_SCHEMA)


def signal_id(strategy_id: str, symbol: str, side: str, timestamp: Any) -> str:
    """Stable id of one trade event: the same event in any later report hashes the same."""
    key = f"{strategy_id}|{symbol}|{side}|{format_time(parse_time(timestamp))}"
    return "sig_" + hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:16]


def _number(value: object, field: str, *, index: int | None = None, item_id: str | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LonaPayloadError(f"is not a number: {value!r}", field=field, index=index, item_id=item_id)
    if not math.isfinite(value):
        raise LonaPayloadError(f"is not finite: {value!r}", field=field, index=index, item_id=item_id)
    return float(value)


def read_stats(total_stats: object) -> dict[str, float | int]:
    """The five backtest statistics, checked; ``win_rate`` above 1 is read as a percentage."""
    if not isinstance(total_stats, Mapping):
        raise LonaPayloadError("is missing or not an object", field="total_stats")
    stats: dict[str, float | int] = {}
    for name in STAT_FIELDS:
        if name not in total_stats:
            raise LonaPayloadError("is missing", field=f"total_stats.{name}")
        stats[name] = _number(total_stats[name], f"total_stats.{name}")
    win_rate = float(stats["win_rate"])
    if win_rate > 1.0:
        win_rate /= 100.0
    if not 0.0 <= win_rate <= 1.0:
        raise LonaPayloadError(f"is outside [0, 1]: {win_rate!r}", field="total_stats.win_rate")
    stats["win_rate"] = win_rate
    trades = stats["total_trades"]
    if trades < 0 or trades != int(trades):
        raise LonaPayloadError(f"is not a non-negative integer: {trades!r}", field="total_stats.total_trades")
    stats["total_trades"] = int(trades)
    return stats


def signal_strength(total_stats: Mapping[str, Any]) -> float:
    """Confidence in a strategy's signals, in [0, 1], from its backtest quality.

    ``strength = (1 - exp(-trades / 10)) * (0.7 * logistic(sharpe) + 0.3 * win_rate)``: the
    logistic keeps it increasing in Sharpe without letting one huge Sharpe saturate the scale,
    and the first factor discounts strategies whose statistics rest on few trades (0 trades
    gives 0; 10 trades about 0.63; 30 trades about 0.95).
    """
    stats = read_stats(total_stats)
    sharpe = float(stats["sharpe_ratio"])
    sharpe_score = 1.0 / (1.0 + math.exp(-max(min(sharpe, 50.0), -50.0)))
    quality = _SHARPE_WEIGHT * sharpe_score + (1.0 - _SHARPE_WEIGHT) * float(stats["win_rate"])
    confidence = 1.0 - math.exp(-int(stats["total_trades"]) / _TRADES_SCALE)
    return min(max(confidence * quality, 0.0), 1.0)


def _trade_events(trade: object, index: int) -> list[tuple[str, str, Any, float]]:
    """``(symbol, side, timestamp, price)`` for a trade's entry and, when closed, its exit."""
    if not isinstance(trade, Mapping):
        raise LonaPayloadError("is not an object", field="trade", index=index)
    raw_id = trade.get("id")
    item_id = str(raw_id) if raw_id is not None else None

    def fail(field: str, message: str) -> LonaPayloadError:
        return LonaPayloadError(message, field=field, index=index, item_id=item_id)

    symbol = trade.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise fail("symbol", f"is missing or not a non-empty string: {symbol!r}")
    side = trade.get("side")
    if side not in ENTRY_SIDES:
        raise fail("side", f"is not 'long' or 'short': {side!r}")

    def moment(field: str) -> Any:
        try:
            return parse_time(trade.get(field))
        except ValueError as exc:
            raise fail(field, f"is not an ISO 8601 time: {trade.get(field)!r}") from exc

    def price(field: str) -> float:
        value = _number(trade.get(field), field, index=index, item_id=item_id)
        if value <= 0:
            raise fail(field, f"is not positive: {value!r}")
        return value

    events = [(symbol, ENTRY_SIDES[side], moment("entry_time"), price("entry_price"))]
    if trade.get("exit_time") is not None:
        events.append((symbol, "flat", moment("exit_time"), price("exit_price")))
    elif trade.get("exit_price") is not None:
        raise fail("exit_time", "is missing although 'exit_price' is set")
    return events


def signals_from_report(strategy: Mapping[str, Any], full_report: Mapping[str, Any]) -> pl.DataFrame:
    """Normalized signals (``SIGNAL_SCHEMA``) for every trade event of a completed report."""
    strategy_id = strategy.get("id")
    if not isinstance(strategy_id, str) or not strategy_id:
        raise LonaPayloadError("is missing or not a non-empty string", field="strategy.id")
    report_id = full_report.get("id")
    if not isinstance(report_id, str) or not report_id:
        raise LonaPayloadError("is missing or not a non-empty string", field="id")
    owner = full_report.get("strategy_id")
    if owner is not None and owner != strategy_id:
        raise LonaPayloadError(f"is {owner!r}, not the strategy's id {strategy_id!r}", field="strategy_id")
    status = full_report.get("status")
    if status is not None and status != "COMPLETED":
        raise LonaPayloadError(f"is {status!r}; signals need a COMPLETED report", field="status")
    stats = read_stats(full_report.get("total_stats"))
    strength = signal_strength(stats)
    trades = full_report.get("trades")
    if not isinstance(trades, list):
        raise LonaPayloadError("is missing or not a list", field="trades")

    rows: dict[str, dict[str, Any]] = {}
    for index, trade in enumerate(trades):
        for symbol, side, timestamp, price in _trade_events(trade, index):
            sid = signal_id(strategy_id, symbol, side, timestamp)
            rows.setdefault(
                sid,
                {
                    "signal_id": sid,
                    "strategy_id": strategy_id,
                    "report_id": report_id,
                    "symbol": symbol,
                    "side": side,
                    "strength": strength,
                    "timestamp": timestamp,
                    "price": price,
                    **stats,
                },
            )
    if not rows:
        return empty_signals()
    frame = pl.DataFrame(list(rows.values()), schema=SIGNAL_SCHEMA)
    return frame.sort("timestamp", "symbol", "signal_id")
