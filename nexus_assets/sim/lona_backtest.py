"""The stand-in's backtest engine: positions to trades, equity and Lona's ``total_stats``.

Trades enter and exit at bar closes, sized once at entry from an equal share of the initial
cash per symbol (times ``leverage``), and pay ``commission`` (a fraction of notional) on each side. Every trade's
``pnl`` is net of commission; an open trade's ``pnl`` is marked at the last close, so the sum
of trade pnl is exactly the equity change. ``max_drawdown`` is a negative fraction (-0.12 is a
12 % fall from the running peak); ``win_rate`` counts closed trades only; ``total_trades``
counts all trades, the open one included.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from nexus_assets.lona.wire import format_time
from nexus_assets.sim.strategies import positions

PERIODS_PER_YEAR = {"1d": 252.0, "1h": 252.0 * 24.0}


@dataclass(frozen=True)
class SimulationParameters:
    """The subset of Lona's ``simulation_parameters`` the stand-in honours.

    Lona's own shape (the original backend's ``LonaSimulationParameters``) is
    ``{"initial_cash", "commission_schema": {"commission", "leverage"}, "buy_on_close"}``;
    a flat ``commission`` is accepted too, as earlier versions of this stand-in took it.
    ``leverage`` scales each symbol's allocation; fills are always at the close, so
    ``buy_on_close`` must be true.
    """

    initial_cash: float = 100_000.0
    commission: float = 0.001
    leverage: float = 1.0

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> SimulationParameters:
        """Parsed and checked; a ValueError names the offending field."""
        value = dict(value or {})
        where = "simulation_parameters"
        _no_extra(value, {"initial_cash", "commission", "commission_schema", "buy_on_close"}, where)
        fields: dict[str, float] = {}
        if "initial_cash" in value:
            fields["initial_cash"] = _number(value["initial_cash"], f"{where}.initial_cash", 1.0, 1e12)
        if "commission" in value:
            fields["commission"] = _number(value["commission"], f"{where}.commission", 0.0, 0.1)
        schema = value.get("commission_schema")
        if schema is not None:
            inner = f"{where}.commission_schema"
            if not isinstance(schema, Mapping):
                raise ValueError(f"{inner}: expected an object, got {schema!r}")
            _no_extra(dict(schema), {"commission", "leverage"}, inner)
            if "commission" in schema:
                if "commission" in fields:
                    raise ValueError(f"{inner}.commission: also given as {where}.commission")
                fields["commission"] = _number(schema["commission"], f"{inner}.commission", 0.0, 0.1)
            if "leverage" in schema:
                fields["leverage"] = _number(schema["leverage"], f"{inner}.leverage", 0.01, 100.0)
        buy_on_close = value.get("buy_on_close", True)
        if not isinstance(buy_on_close, bool):
            raise ValueError(f"{where}.buy_on_close: expected true or false, got {buy_on_close!r}")
        if not buy_on_close:
            raise ValueError(f"{where}.buy_on_close: the stand-in fills at the close only")
        return cls(**fields)


def _no_extra(value: Mapping[str, Any], known: set[str], where: str) -> None:
    extra = sorted(set(value) - known)
    if extra:
        raise ValueError(f"{where}: unknown field(s) {', '.join(extra)}")


def _number(value: object, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: expected a number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{where}: must be in [{low:g}, {high:g}]")
    return float(value)


@dataclass(frozen=True)
class BacktestResult:
    trades: list[dict[str, Any]]
    timeline: pl.DataFrame
    total_stats: dict[str, float | int]

    def timeline_json(self) -> list[dict[str, Any]]:
        stamps = [format_time(t) for t in self.timeline["timestamp"]]
        return [
            {"timestamp": t, "equity": e}
            for t, e in zip(stamps, self.timeline["equity"].to_list(), strict=True)
        ]


def trade_id(strategy_id: str, symbol: str, entry_time: datetime) -> str:
    """Stable across reports: the same trade keeps its id as more bars are revealed."""
    key = f"{strategy_id}|{symbol}|{format_time(entry_time)}"
    return "tr_" + hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:16]


def _symbol_run(
    strategy_id: str,
    template: str,
    params: Mapping[str, Any],
    bars: pl.DataFrame,
    start: datetime,
    allocation: float,
    commission: float,
) -> tuple[list[dict[str, Any]], pl.DataFrame]:
    """Trades and per-bar pnl of one symbol inside the window (bars end at the window's end)."""
    symbol = str(bars["symbol"][0])
    stamps = bars["timestamp"]
    close = bars["close"].to_numpy()
    target = positions(template, params, bars).astype(np.int64)
    in_window = (stamps >= start).to_numpy()
    target[~in_window] = 0
    previous = np.concatenate([[0], target[:-1]])
    changes = np.flatnonzero(target != previous)
    entries = changes[target[changes] != 0]
    held = np.zeros(len(close))
    fees = np.zeros(len(close))
    trades = []
    last = len(close) - 1
    for entry in entries:
        later = changes[changes > entry]
        exit_ = int(later[0]) if len(later) else None
        direction = int(target[entry])
        quantity = float(max(1, math.floor(allocation / close[entry])))
        held[entry : exit_ if exit_ is not None else last + 1] = direction * quantity
        fees[entry] += commission * quantity * close[entry]
        mark = close[exit_] if exit_ is not None else close[last]
        cost = commission * quantity * (close[entry] + (close[exit_] if exit_ is not None else 0.0))
        if exit_ is not None:
            fees[exit_] += commission * quantity * close[exit_]
        trades.append(
            {
                "id": trade_id(strategy_id, symbol, stamps[int(entry)]),
                "symbol": symbol,
                "side": "long" if direction > 0 else "short",
                "entry_time": format_time(stamps[int(entry)]),
                "entry_price": float(close[entry]),
                "exit_time": format_time(stamps[exit_]) if exit_ is not None else None,
                "exit_price": float(close[exit_]) if exit_ is not None else None,
                "quantity": quantity,
                "pnl": float(direction * quantity * (mark - close[entry]) - cost),
            }
        )
    pnl = np.zeros(len(close))
    pnl[1:] = held[:-1] * np.diff(close)
    pnl -= fees
    steps = pl.DataFrame({"timestamp": stamps, "pnl": pnl}).filter(pl.Series(in_window))
    return trades, steps


def _stats(
    equity: np.ndarray, initial_cash: float, trades: list[dict[str, Any]], periods: float
) -> dict[str, float | int]:
    path = np.concatenate([[initial_cash], equity])
    returns = path[1:] / path[:-1] - 1.0
    sharpe = 0.0
    if len(returns) >= 2 and np.std(returns, ddof=1) > 0:
        sharpe = float(np.mean(returns) / np.std(returns, ddof=1) * math.sqrt(periods))
    drawdown = float(np.min(path / np.maximum.accumulate(path) - 1.0))
    closed = [t for t in trades if t["exit_time"] is not None]
    wins = sum(1 for t in closed if t["pnl"] > 0)
    return {
        "total_return": round(float(path[-1] / initial_cash - 1.0), 8),
        "sharpe_ratio": round(sharpe, 6),
        "max_drawdown": round(drawdown, 8),
        "win_rate": round(wins / len(closed), 6) if closed else 0.0,
        "total_trades": len(trades),
    }


def run_backtest(
    strategy_id: str,
    template: str,
    params: Mapping[str, Any],
    bars_by_symbol: Mapping[str, pl.DataFrame],
    start: datetime,
    end: datetime,
    simulation: SimulationParameters,
    frequency: str = "1d",
) -> BacktestResult:
    """Backtest over ``[start, end)``; indicators also see the history before ``start``.

    Raises ValueError when no symbol has a bar inside the window.
    """
    allocation = simulation.initial_cash * simulation.leverage / max(len(bars_by_symbol), 1)
    trades: list[dict[str, Any]] = []
    steps = []
    for bars in bars_by_symbol.values():
        history = bars.filter(pl.col("timestamp") < end).sort("timestamp")
        if history.is_empty() or history["timestamp"].max() < start:  # type: ignore[operator]
            continue
        symbol_trades, symbol_steps = _symbol_run(
            strategy_id, template, params, history, start, allocation, simulation.commission
        )
        trades.extend(symbol_trades)
        steps.append(symbol_steps)
    if not steps:
        raise ValueError(f"no bars between {format_time(start)} and {format_time(end)}")
    timeline = (
        pl.concat(steps)
        .group_by("timestamp")
        .agg(pl.col("pnl").sum())
        .sort("timestamp")
        .select("timestamp", (simulation.initial_cash + pl.col("pnl").cum_sum()).alias("equity"))
    )
    trades.sort(key=lambda t: (t["entry_time"], t["symbol"]))
    periods = PERIODS_PER_YEAR.get(frequency, 252.0)
    stats = _stats(timeline["equity"].to_numpy(), simulation.initial_cash, trades, periods)
    return BacktestResult(trades=trades, timeline=timeline, total_stats=stats)
