"""The Live Engine stand-in's bar clock: simulated prices revealed one bar per tick.

Prices are the seeded market the Lona stand-in serves (same symbols, seed and anchoring: the
bar at start-up closes at the newest finished close), so a price a test reads from one
stand-in means the same thing in the other. The simulation extends itself when the clock
reaches its end; a longer simulation with the same seed repeats the shorter one bar for bar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from nexus_assets.clock import now_utc
from nexus_assets.sim.market import (
    DEFAULT_SYMBOLS,
    MarketSimConfig,
    latest_close,
    simulate_market,
    start_for_end,
)

EXTENSION_BARS = 1260
"""Bars simulated beyond the start-up bar each time the clock runs out (about five years)."""


@dataclass(frozen=True)
class Bar:
    timestamp: datetime
    open: float
    high: float
    low: float
    close: float


@dataclass(frozen=True)
class _Prices:
    timestamps: list[datetime]
    columns: dict[str, dict[str, np.ndarray]]
    """symbol -> column name -> values, one per bar."""


class BarClock:
    """The current bar index over a simulated market; not thread-safe, the world locks it."""

    def __init__(
        self,
        *,
        seed: int = 7,
        symbols: tuple[str, ...] = DEFAULT_SYMBOLS,
        initial_bars: int = 1260,
        last_close: datetime | None = None,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        if initial_bars < 1:
            raise ValueError("initial_bars: at least one bar is required")
        self.seed = seed
        self.symbols = symbols
        self.start = start_for_end(last_close or latest_close(clock()), initial_bars)
        self.index = initial_bars - 1
        self._prices = self._simulate(initial_bars + EXTENSION_BARS)

    def _simulate(self, n_bars: int) -> _Prices:
        frame = simulate_market(
            MarketSimConfig(symbols=self.symbols, n_bars=n_bars, seed=self.seed, start=self.start)
        )
        columns = {}
        timestamps: list[datetime] = []
        for (symbol,), bars in frame.group_by("symbol", maintain_order=True):
            columns[str(symbol)] = {c: bars[c].to_numpy() for c in ("open", "high", "low", "close")}
            timestamps = bars["timestamp"].to_list()
        return _Prices(timestamps, columns)

    def knows(self, symbol: str) -> bool:
        return symbol in self._prices.columns

    @property
    def time(self) -> datetime:
        """Close time of the current bar."""
        return self._prices.timestamps[self.index]

    def bar(self, symbol: str) -> Bar:
        values = self._prices.columns[symbol]
        i = self.index
        return Bar(
            self._prices.timestamps[i],
            float(values["open"][i]),
            float(values["high"][i]),
            float(values["low"][i]),
            float(values["close"][i]),
        )

    def closes(self) -> dict[str, float]:
        """The latest close of every symbol: what portfolios are marked at."""
        return {s: float(v["close"][self.index]) for s, v in self._prices.columns.items()}

    def advance(self) -> None:
        """Move to the next bar, simulating further ahead first if needed."""
        if self.index + 1 >= len(self._prices.timestamps):
            self._prices = self._simulate(len(self._prices.timestamps) + EXTENSION_BARS)
        self.index += 1


def fill_price(side: str, order_type: str, limit: float | None, bar: Bar) -> float | None:
    """What an order resting before ``bar`` fills at during it, or None if it does not fill.

    Market orders take the open. A limit order fills once the bar trades through its price, at
    the limit or at the open when the bar opens already past it (a gap is the trader's gain).
    """
    if order_type == "market":
        return bar.open
    if limit is None:
        return None
    if side == "buy":
        return min(bar.open, limit) if bar.low <= limit else None
    return max(bar.open, limit) if bar.high >= limit else None
