"""The replay's market data: one long OHLCV table on a common calendar, from either file shape.

``nexus backtest --prices`` takes today's wide close file (a date column and one close column
per symbol) or a long OHLCV table (``symbol, timestamp, open, high, low, close[, volume]``).
A wide file has closes only: each bar becomes open = high = low = close with zero volume, so
the range estimators fall back to close-to-close ones (the one feature kernel does that for a
bar without range, in batch and serving alike) and the zero-volume rule of the anomaly detector
is switched off; the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from nexus_assets.marketdata.files import normalize_names, parse_bars_frame, read_raw
from nexus_assets.marketdata.wide import PriceTable, read_price_table
from nexus_assets.ml.bars import BAR_COLUMNS, BAR_SCHEMA, BarsValidationError

LONG_COLUMNS = frozenset({"symbol", "open", "high", "low", "close"})


@dataclass(frozen=True)
class ReplayBars:
    bars: pl.DataFrame
    """Canonical bars (``BAR_SCHEMA``), sorted by symbol and time, no missing bar rows."""
    closes_only: bool
    symbols: list[str]
    calendar: pl.Series
    """Every bar time of any symbol, ascending: the replay's clock."""
    close: np.ndarray
    """[calendar, symbols] closes, NaN where a symbol has no bar."""

    def index_of(self, timestamps: pl.Series) -> np.ndarray:
        """Calendar row of each timestamp (which must be bar times)."""
        return np.searchsorted(self.calendar.to_numpy(), timestamps.to_numpy())


def _from_long(bars: pl.DataFrame, *, closes_only: bool) -> ReplayBars:
    ordered = bars.select(BAR_COLUMNS).cast(BAR_SCHEMA).sort("symbol", "timestamp")
    symbols = ordered["symbol"].unique(maintain_order=True).to_list()
    wide = ordered.pivot(on="symbol", index="timestamp", values="close").sort("timestamp")
    return ReplayBars(
        bars=ordered,
        closes_only=closes_only,
        symbols=symbols,
        calendar=wide["timestamp"],
        close=wide.select(symbols).to_numpy().astype(np.float64),
    )


def bars_from_price_table(table: PriceTable) -> ReplayBars:
    """Closes only: open = high = low = close, volume 0, one row per priced bar."""
    wide = pl.DataFrame({"timestamp": table.timestamps}).with_columns(
        pl.Series(symbol, table.prices[:, i]) for i, symbol in enumerate(table.symbols)
    )
    long = (
        wide.unpivot(index="timestamp", variable_name="symbol", value_name="close")
        .drop_nulls("close")
        .filter(pl.col("close").is_not_nan())
        .with_columns(
            pl.col("timestamp").cast(pl.Datetime("us", "UTC")),
            open=pl.col("close"),
            high=pl.col("close"),
            low=pl.col("close"),
            volume=pl.lit(0.0),
        )
    )
    return _from_long(long, closes_only=True)


def replay_bars(bars: pl.DataFrame) -> ReplayBars:
    """A canonical bar table (the graph's ``market_bars``): OHLCV, so ranges are real."""
    return _from_long(bars, closes_only=False)


def read_replay_prices(path: Path) -> ReplayBars:
    """Either file shape; errors name the file, row and column."""
    if not path.is_file():
        raise BarsValidationError("no such file", source=str(path))
    raw, offset = read_raw(path)
    columns = set(normalize_names(raw.head(0), str(path)).columns)
    if columns >= LONG_COLUMNS:
        return _from_long(
            parse_bars_frame(raw, source=str(path), symbol=None, row_offset=offset).with_columns(
                pl.col("volume").fill_null(0.0)
            ),
            closes_only=False,
        )
    return bars_from_price_table(read_price_table(path))
