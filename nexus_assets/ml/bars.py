"""The canonical OHLCV bar table and its validation.

Every source (simulator, files, Lona) produces this one long table, so features, checks and
serving only ever see one shape. Validation errors name the source, row and column so that a
user can fix the offending file rather than guess.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from nexus_assets.ml.bar_kernel import bars_obey_value_rules

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
BAR_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "timestamp": pl.Datetime("us", "UTC"),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Float64(),
}
BAR_COLUMNS: tuple[str, ...] = tuple(BAR_SCHEMA)
ROW_COLUMN = "__row"
"""Optional column carrying each row's 1-based position in its source, for error messages."""


class BarsValidationError(ValueError):
    """A bar table that cannot be trusted, located as precisely as the source allows."""

    def __init__(
        self,
        message: str,
        *,
        source: str,
        column: str | None = None,
        row: int | None = None,
    ) -> None:
        self.source = source
        self.column = column
        self.row = row
        self.reason = message
        where = [source]
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column '{column}'")
        super().__init__(f"{', '.join(where)}: {message}")


def _first_row(frame: pl.DataFrame, mask: pl.Expr) -> int | None:
    """Source row number of the first row matching ``mask`` (or None when none does)."""
    hits = frame.with_row_index("__pos").filter(mask)
    if hits.is_empty():
        return None
    if ROW_COLUMN in hits.columns:
        return int(hits[ROW_COLUMN][0])
    return int(hits["__pos"][0]) + 1


def values_clean(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray
) -> bool:
    """True when no value rule can fail on these float64 columns (one compiled pass)."""
    return bool(bars_obey_value_rules(open_, high, low, close, volume))


def _clean(frame: pl.DataFrame) -> bool:
    """True when no value rule can fail, checked on the raw float columns with NumPy.

    The common case (every decision request, every stored table) then costs a few vector
    operations instead of one polars scan per rule; anything else takes the rule-by-rule path,
    which finds and names the first problem.
    """
    columns = [frame.get_column(c) for c in (*PRICE_COLUMNS, "volume")]
    if any(c.dtype != pl.Float64 or c.null_count() for c in columns) or any(
        frame.get_column(c).null_count() for c in ("symbol", "timestamp")
    ):
        return False
    return values_clean(*(c.to_numpy() for c in columns))


def _strictly_ordered(frame: pl.DataFrame) -> bool:
    """True when rows are in symbol order and strictly increasing time within a symbol (so no duplicates)."""
    symbol = frame.get_column("symbol")
    if symbol[0] == symbol[-1] and symbol.is_sorted():
        stamps = frame.get_column("timestamp").to_numpy()
        return bool((stamps[1:] > stamps[:-1]).all())
    later = (pl.col("symbol") > pl.col("symbol").shift(1)) | (
        (pl.col("symbol") == pl.col("symbol").shift(1)) & (pl.col("timestamp") > pl.col("timestamp").shift(1))
    )
    return bool(frame.select(later.fill_null(True).all()).item())


def _check_values(frame: pl.DataFrame, source: str) -> None:
    """Rule by rule, so the first problem is named by column and row."""
    for column in ("symbol", "timestamp", *PRICE_COLUMNS):
        row = _first_row(frame, pl.col(column).is_null())
        if row is not None:
            raise BarsValidationError("value is missing", source=source, column=column, row=row)
    for column in (*PRICE_COLUMNS, "volume"):
        row = _first_row(frame, ~pl.col(column).is_finite())
        if row is not None:
            raise BarsValidationError("value is not finite", source=source, column=column, row=row)
    for column in PRICE_COLUMNS:
        row = _first_row(frame, pl.col(column) <= 0)
        if row is not None:
            raise BarsValidationError("price must be positive", source=source, column=column, row=row)
    row = _first_row(frame, pl.col("volume") < 0)
    if row is not None:
        raise BarsValidationError("volume must not be negative", source=source, column="volume", row=row)
    rules: tuple[tuple[str, pl.Expr, str], ...] = (
        ("high", pl.col("high") < pl.col("low"), "high is below low"),
        ("high", pl.col("high") < pl.max_horizontal("open", "close"), "high is below open or close"),
        ("low", pl.col("low") > pl.min_horizontal("open", "close"), "low is above open or close"),
    )
    for column, broken, message in rules:
        row = _first_row(frame, broken)
        if row is not None:
            raise BarsValidationError(message, source=source, column=column, row=row)


def validate_bars(frame: pl.DataFrame, *, source: str) -> pl.DataFrame:
    """Check a typed bar table and return it sorted by symbol and timestamp.

    Raises BarsValidationError at the first problem found, naming row and column.
    """
    missing = [c for c in BAR_COLUMNS if c not in frame.columns]
    if missing:
        raise BarsValidationError(
            f"missing required column(s): {', '.join(missing)}", source=source, column=missing[0]
        )
    if frame.is_empty():
        raise BarsValidationError("no bars", source=source)
    clean = _clean(frame)
    if clean and _strictly_ordered(frame):
        return frame if frame.columns == list(BAR_COLUMNS) else frame.select(BAR_COLUMNS)
    if not clean:
        _check_values(frame, source)
    row = _first_row(frame, pl.struct("symbol", "timestamp").is_duplicated())
    if row is not None:
        raise BarsValidationError(
            "duplicate timestamp for this symbol", source=source, column="timestamp", row=row
        )
    return frame.select(BAR_COLUMNS).sort("symbol", "timestamp")


def validate_bar_columns(symbol: str, columns: dict[str, np.ndarray], *, source: str) -> None:
    """``validate_bars`` for one symbol's bars held as NumPy columns, without building a table.

    ``columns``: ``timestamp`` (int64 epoch microseconds) and float64 ``open`` ... ``volume`` of
    equal length, oldest first. Clean bars cost a few vector operations; otherwise the same
    bars go through ``validate_bars`` so that the error names the row and column exactly as it
    does for any table.
    """
    stamps = columns["timestamp"]
    values = [columns[c] for c in (*PRICE_COLUMNS, "volume")]
    if stamps.size and values_clean(*values) and bool((stamps[1:] > stamps[:-1]).all()):
        return
    frame = pl.DataFrame(
        [
            pl.Series("symbol", [symbol] * stamps.size, dtype=pl.String),
            pl.Series("timestamp", stamps, dtype=pl.Int64).cast(BAR_SCHEMA["timestamp"]),
            *(pl.Series(name, columns[name], dtype=pl.Float64) for name in (*PRICE_COLUMNS, "volume")),
        ]
    )
    validated = validate_bars(frame, source=source)
    # Valid but out of order would be sorted by validate_bars; columns cannot be, so refuse them.
    if not validated.equals(frame):
        raise BarsValidationError("timestamps must strictly increase", source=source, column="timestamp")


def empty_bars() -> pl.DataFrame:
    """A bar table with no rows and the canonical schema."""
    return pl.DataFrame(schema=BAR_SCHEMA)
