"""Signals on the replay's clock: the bar each acts at, and each symbol's standing set as bars go by."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from nexus_assets.ml.features import acting_bars
from nexus_assets.ml.portfolio.policy import SIDES
from nexus_assets.ml.portfolio.strategy_clusters import position_series, strategy_clusters
from nexus_assets.ml.replay.meta import MetaSizes
from nexus_assets.ml.replay.prices import ReplayBars


def place_signals(data: ReplayBars, signals: pl.DataFrame) -> pl.DataFrame:
    """Each signal with the calendar row of the bar it acts at (its symbol's first bar at or after it)."""
    bar_times = {symbol: part["timestamp"].sort() for (symbol,), part in data.bars.group_by("symbol")}
    parts = []
    for (symbol,), part in signals.group_by("symbol", maintain_order=True):
        stamps = bar_times.get(symbol)
        if stamps is None:
            continue
        at = acting_bars(stamps.dt.epoch("us").to_numpy(), part["timestamp"].dt.epoch("us").to_numpy())
        keep = at < len(stamps)
        parts.append(part.filter(pl.Series(keep)).with_columns(bar_time=stamps.gather(at[keep])))
    if not parts:
        return signals.clear().with_columns(
            bar_time=pl.lit(None, dtype=data.calendar.dtype), row=pl.lit(None, dtype=pl.Int64)
        )
    placed = pl.concat(parts)
    return placed.with_columns(pl.Series("row", data.index_of(placed["bar_time"]), dtype=pl.Int64)).sort(
        "row", "symbol", "strategy_id", "timestamp"
    )


def cluster_periods(
    placed: pl.DataFrame, symbols: list[str], n_rows: int, starts: list[int], window: int, max_age: int
) -> dict[tuple[int, int], dict[str, str]]:
    """``(retrain bar, symbol index)`` -> each strategy's cluster over the ``window`` bars before it."""
    index = {s: i for i, s in enumerate(symbols)}
    out: dict[tuple[int, int], dict[str, str]] = {}
    for (symbol,), part in placed.group_by("symbol", maintain_order=True):
        names = sorted(part["strategy_id"].unique().to_list())
        positions = np.column_stack(
            [
                position_series(
                    rows["row"].to_numpy(),
                    rows["side"].replace_strict(SIDES, return_dtype=pl.Float64).to_numpy(),
                    n_rows,
                    max_age,
                )
                for name in names
                for rows in (part.filter(pl.col("strategy_id") == name).sort("row"),)
            ]
        )
        for start in starts:
            out[(start, index[symbol])] = strategy_clusters(
                positions[max(start - window, 0) : start + 1], names
            )
    return out


class Standing:
    """Each symbol's newest signal per strategy, as the bars go by, with the strategy's cluster."""

    def __init__(
        self,
        placed: pl.DataFrame,
        symbols: list[str],
        max_age: int,
        meta: MetaSizes,
        clusters: dict[tuple[int, int], dict[str, str]] | None = None,
    ) -> None:
        index = {s: i for i, s in enumerate(symbols)}
        self._by_row: dict[int, list[tuple[int, dict[str, Any]]]] = {}
        for signal in placed.iter_rows(named=True):
            symbol = index[signal["symbol"]]
            signal["meta_scale"] = meta.scale.get((signal["row"], symbol, signal["strategy_id"]), 1.0)
            self._by_row.setdefault(signal["row"], []).append((symbol, signal))
        self._newest: list[dict[str, dict[str, Any]]] = [{} for _ in symbols]
        self._max_age = max_age
        self._clusters = clusters or {}
        self._starts = sorted({start for start, _ in self._clusters})
        self.arrived: dict[int, dict[str, Any]] = {}
        """Symbol index -> the newest signal that arrived at the current bar (the anomaly rules check it)."""

    def advance(self, row: int) -> bool:
        """Take in the signals of ``row``; True when any arrived or a standing one expired."""
        arrived = self._by_row.get(row, [])
        self.arrived = {}
        for symbol, signal in arrived:
            self._newest[symbol][signal["strategy_id"]] = signal
            self.arrived[symbol] = signal
        expired = any(
            self._newest[symbol].get(signal["strategy_id"]) is signal
            for symbol, signal in self._by_row.get(row - self._max_age, [])
        )
        return bool(arrived) or expired

    def at(self, symbol: int, row: int) -> tuple[dict[str, Any], ...]:
        """The symbol's standing signals at ``row``, oldest first, each with its ``cluster``."""
        fresh = [s for s in self._newest[symbol].values() if row - s["row"] < self._max_age]
        period = int(np.searchsorted(self._starts, row, side="right")) - 1
        clusters = self._clusters.get((self._starts[period], symbol), {}) if period >= 0 else {}
        return tuple(
            {**s, "cluster": clusters.get(s["strategy_id"], s["strategy_id"])}
            for s in sorted(fresh, key=lambda s: (s["row"], s["strategy_id"]))
        )


def sized(standing: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
    """The standing signals with their strength times their meta-labeling bet size."""
    return tuple({**s, "strength": s["strength"] * s["meta_scale"]} for s in standing)
