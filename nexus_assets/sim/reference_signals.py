"""Signals from prices alone, for a replay without ``--signals``: the Lona stand-in's strategies.

Each reference family (``sim.strategies.TEMPLATES`` at its default parameters: SMA crossover,
RSI reversion, Donchian breakout, time-series momentum) trades every symbol; a change of its
position at a bar's close is a signal (long entry = buy, short entry = sell, exit = flat), the
events Lona's trade list gives. The strength is ``lona.signals.signal_strength`` of the
strategy's own record on that symbol **up to that bar** (Sharpe, win rate and trade count of
what it had traded so far, net of the stand-in's commission), never of the whole history.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from nexus_assets.lona.signals import signal_strength
from nexus_assets.ml.replay.signal_file import REPLAY_SIGNAL_SCHEMA
from nexus_assets.sim.lona_backtest import SimulationParameters
from nexus_assets.sim.strategies import TEMPLATES, positions

_SIDE = {1: "buy", -1: "sell", 0: "flat"}
_ROOT_YEAR = math.sqrt(252.0)


def _events(position: np.ndarray, close: np.ndarray, commission: float) -> list[tuple[int, int, float]]:
    """``(bar, new position, strength)`` at each change of position, strength from the record so far."""
    held = np.concatenate([[0], position[:-1]])
    simple = np.concatenate([[0.0], close[1:] / close[:-1] - 1.0])
    returns = held * simple - commission * np.abs(position - held)
    growth = np.cumprod(1.0 + returns)
    peak, worst, total, squares = 1.0, 0.0, 0.0, 0.0
    entry, closed, wins = 1.0, 0, 0
    events = []
    for i in range(len(position)):
        total += returns[i]
        squares += returns[i] * returns[i]
        peak = max(peak, growth[i])
        worst = min(worst, growth[i] / peak - 1.0)
        if position[i] == held[i]:
            continue
        if held[i] != 0:
            closed += 1
            wins += growth[i] > entry
        mean = total / (i + 1)
        std = math.sqrt(max(squares / (i + 1) - mean * mean, 0.0))
        stats = {
            "total_return": float(growth[i] - 1.0),
            "sharpe_ratio": mean / std * _ROOT_YEAR if std > 0 else 0.0,
            "max_drawdown": worst,
            "win_rate": wins / closed if closed else 0.0,
            "total_trades": closed,
        }
        events.append((i, int(position[i]), signal_strength(stats)))
        entry = growth[i]
    return events


def reference_signals(bars: pl.DataFrame) -> pl.DataFrame:
    """Every reference family's signals on every symbol of canonical ``bars`` (sorted by symbol, time)."""
    commission = SimulationParameters().commission
    rows: dict[str, list] = {name: [] for name in REPLAY_SIGNAL_SCHEMA}
    for (symbol,), symbol_bars in bars.group_by("symbol", maintain_order=True):
        close = symbol_bars["close"].to_numpy()
        stamps = symbol_bars["timestamp"]
        for key, template in TEMPLATES.items():
            position = positions(key, template.defaults, symbol_bars).astype(np.int64)
            for bar, side, strength in _events(position, close, commission):
                rows["timestamp"].append(stamps[bar])
                rows["symbol"].append(symbol)
                rows["strategy_id"].append(key)
                rows["side"].append(_SIDE[side])
                rows["strength"].append(strength)
    return pl.DataFrame(rows, schema=REPLAY_SIGNAL_SCHEMA).sort("timestamp", "symbol", "strategy_id")
