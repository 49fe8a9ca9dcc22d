"""``nexus backtest --signals``: a file of trading signals, checked row by row.

CSV or Parquet with ``timestamp, symbol, strategy_id, side (buy|sell|flat), strength`` (0..1).
A signal acts at the close of its bar: the first bar of its symbol at or after its timestamp,
the rule the features use, so nothing from the future leaks in. Errors name the file, the row a
user sees in an editor and the column.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from nexus_assets.marketdata.files import ROW_COLUMN, normalize_names, parse_number, parse_timestamp, read_raw
from nexus_assets.ml.bars import BarsValidationError

SIGNAL_COLUMNS: tuple[str, ...] = ("timestamp", "symbol", "strategy_id", "side", "strength")
SIDES: tuple[str, ...] = ("buy", "sell", "flat")
REPLAY_SIGNAL_SCHEMA: dict[str, pl.DataType] = {
    "timestamp": pl.Datetime("us", "UTC"),
    "symbol": pl.String(),
    "strategy_id": pl.String(),
    "side": pl.String(),
    "strength": pl.Float64(),
}


class SignalFileError(BarsValidationError):
    """A signal file that cannot be replayed, located by file, row and column."""


def _first_row(frame: pl.DataFrame, mask: pl.Expr) -> int | None:
    hits = frame.filter(mask)
    return int(hits[ROW_COLUMN][0]) if hits.height else None


def read_signal_file(path: Path, symbols: list[str]) -> pl.DataFrame:
    """The file's signals (``REPLAY_SIGNAL_SCHEMA``), sorted by time; every symbol must be priced."""
    source = str(path)
    if not path.is_file():
        raise SignalFileError("no such file", source=source)
    try:
        raw, offset = read_raw(path)
    except BarsValidationError as error:
        raise SignalFileError(error.reason, source=source) from error
    frame = normalize_names(raw, source).with_row_index(ROW_COLUMN, offset=offset)
    missing = [c for c in SIGNAL_COLUMNS if c not in frame.columns]
    if missing:
        raise SignalFileError(
            f"missing required column(s): {', '.join(missing)}", source=source, column=missing[0]
        )
    try:
        typed = frame.with_columns(
            parse_timestamp(frame, source),
            pl.col("symbol", "strategy_id", "side").cast(pl.String).str.strip_chars(),
            parse_number(frame, "strength", source),
        )
    except BarsValidationError as error:
        raise SignalFileError(error.reason, source=source, column=error.column, row=error.row) from error
    for name in ("symbol", "strategy_id", "side", "strength"):
        row = _first_row(typed, pl.col(name).is_null() | (pl.col(name).cast(pl.String) == ""))
        if row is not None:
            raise SignalFileError("value is missing", source=source, column=name, row=row)
    row = _first_row(typed, ~pl.col("side").str.to_lowercase().is_in(SIDES))
    if row is not None:
        bad = typed.filter(pl.col(ROW_COLUMN) == row)["side"][0]
        raise SignalFileError(f"side {bad!r} is not buy, sell or flat", source=source, column="side", row=row)
    row = _first_row(typed, ~pl.col("strength").is_between(0.0, 1.0) | pl.col("strength").is_nan())
    if row is not None:
        raise SignalFileError(
            "strength must be a number in [0, 1]", source=source, column="strength", row=row
        )
    row = _first_row(typed, ~pl.col("symbol").is_in(symbols))
    if row is not None:
        bad = typed.filter(pl.col(ROW_COLUMN) == row)["symbol"][0]
        raise SignalFileError(
            f"symbol {bad!r} has no prices in --prices", source=source, column="symbol", row=row
        )
    return (
        typed.with_columns(pl.col("side").str.to_lowercase())
        .sort("timestamp", ROW_COLUMN)
        .select(SIGNAL_COLUMNS)
        .cast(REPLAY_SIGNAL_SCHEMA)
    )
