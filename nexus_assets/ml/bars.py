"""The canonical OHLCV bar table and its validation.

Every source (simulator, files, Lona) produces this one long table, so features, checks and
serving only ever see one shape. Validation errors name the source, row and column so that a
user can fix the offending file rather than guess.
"""

from __future__ import annotations

import polars as pl

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
    row = _first_row(frame, pl.struct("symbol", "timestamp").is_duplicated())
    if row is not None:
        raise BarsValidationError(
            "duplicate timestamp for this symbol", source=source, column="timestamp", row=row
        )
    return frame.select(BAR_COLUMNS).sort("symbol", "timestamp")


def empty_bars() -> pl.DataFrame:
    """A bar table with no rows and the canonical schema."""
    return pl.DataFrame(schema=BAR_SCHEMA)
