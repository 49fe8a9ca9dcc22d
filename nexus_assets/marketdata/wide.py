"""Wide price tables: a date column plus one close-price column per symbol.

The `nexus backtest` input. Missing values are allowed (a symbol not listed yet, or no longer
trading); anything else that is not a positive price is an error naming file, row and column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from nexus_assets.marketdata.files import ROW_COLUMN, normalize_names, parse_number, parse_timestamp, read_raw
from nexus_assets.ml.bars import BarsValidationError


@dataclass(frozen=True)
class PriceTable:
    timestamps: pl.Series
    symbols: list[str]
    prices: np.ndarray
    """[bars, symbols] closes, NaN where a symbol has no price."""


def read_price_table(path: Path) -> PriceTable:
    source = str(path)
    if not path.is_file():
        raise BarsValidationError("no such file", source=source)
    raw, offset = read_raw(path)
    frame = normalize_names(raw, source).with_row_index(ROW_COLUMN, offset=offset)
    symbols = [c for c in frame.columns if c not in ("timestamp", ROW_COLUMN)]
    if not symbols:
        raise BarsValidationError("no price columns next to the date column", source=source)
    original = {c.strip().lower(): c.strip() for c in raw.columns}
    parsed = frame.with_columns(
        parse_timestamp(frame, source), *(parse_number(frame, s, source) for s in symbols)
    )
    for symbol in symbols:
        bad = parsed.filter(pl.col(symbol) <= 0)
        if bad.height:
            raise BarsValidationError(
                "price must be positive", source=source, column=original[symbol], row=int(bad[ROW_COLUMN][0])
            )
        infinite = parsed.filter(pl.col(symbol).is_infinite() | pl.col(symbol).is_nan())
        if infinite.height:
            raise BarsValidationError(
                "value is not finite",
                source=source,
                column=original[symbol],
                row=int(infinite[ROW_COLUMN][0]),
            )
    duplicated = parsed.filter(pl.col("timestamp").is_duplicated())
    if duplicated.height:
        raise BarsValidationError(
            "duplicate date", source=source, column="date", row=int(duplicated[ROW_COLUMN][0])
        )
    ordered = parsed.sort("timestamp")
    empty = [s for s in symbols if ordered[s].null_count() == ordered.height]
    if empty:
        raise BarsValidationError("column has no prices at all", source=source, column=original[empty[0]])
    return PriceTable(
        timestamps=ordered["timestamp"],
        symbols=[original[s] for s in symbols],
        prices=ordered.select(symbols).to_numpy().astype(np.float64),
    )
