"""Bars from user files: CSV or Parquet, one file per symbol or one long table.

Files are read untyped and parsed column by column, so that a bad value is reported with the
file, the row a user sees in an editor (CSV: line number, header is line 1; Parquet: 1-based
row) and the column, instead of a parser's stack trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from nexus_assets.ml.bars import (
    BAR_COLUMNS,
    BAR_SCHEMA,
    PRICE_COLUMNS,
    ROW_COLUMN,
    BarsValidationError,
    validate_bars,
)

SUFFIXES: tuple[str, ...] = (".csv", ".parquet", ".pq")
TIME_COLUMN_ALIASES: tuple[str, ...] = ("timestamp", "date", "datetime", "time")


def read_raw(path: Path) -> tuple[pl.DataFrame, int]:
    """The file's rows and the offset that turns a 0-based index into the row a user sees."""
    source = str(path)
    try:
        if path.suffix.lower() == ".csv":
            frame = pl.read_csv(path, infer_schema=False, truncate_ragged_lines=False)
            return frame, 2
        return pl.read_parquet(path), 1
    except (pl.exceptions.PolarsError, OSError) as error:
        raise BarsValidationError(f"cannot read file: {error}", source=source) from error


def normalize_names(frame: pl.DataFrame, source: str) -> pl.DataFrame:
    renamed = frame.rename({c: c.strip().lower() for c in frame.columns})
    if "timestamp" not in renamed.columns:
        alias = next((a for a in TIME_COLUMN_ALIASES if a in renamed.columns), None)
        if alias is None:
            raise BarsValidationError(
                "missing required column: timestamp (or date)", source=source, column="timestamp"
            )
        renamed = renamed.rename({alias: "timestamp"})
    return renamed


def _first_failure(frame: pl.DataFrame, raw: str, parsed: pl.Series) -> int | None:
    failed = frame[raw].is_not_null() & parsed.is_null()
    positions = failed.arg_true()
    return int(frame[ROW_COLUMN][positions[0]]) if len(positions) else None


def parse_timestamp(frame: pl.DataFrame, source: str) -> pl.Series:
    column = frame["timestamp"]
    if column.dtype == pl.String:
        parsed = column.str.strip_chars().str.to_datetime(time_unit="us", time_zone="UTC", strict=False)
    elif column.dtype == pl.Date:
        parsed = column.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    elif isinstance(column.dtype, pl.Datetime):
        tz = column.dtype.time_zone
        as_us = column.cast(pl.Datetime("us", tz))
        parsed = as_us.dt.replace_time_zone("UTC") if tz is None else as_us.dt.convert_time_zone("UTC")
    else:
        raise BarsValidationError(
            f"cannot read {column.dtype} as a timestamp", source=source, column="timestamp", row=1
        )
    row = _first_failure(frame, "timestamp", parsed)
    if row is not None:
        bad = frame.filter(pl.col(ROW_COLUMN) == row)["timestamp"][0]
        raise BarsValidationError(
            f"cannot parse {bad!r} as a date or timestamp",
            source=source,
            column="timestamp",
            row=row,
        )
    return parsed.alias("timestamp")


def parse_number(frame: pl.DataFrame, name: str, source: str) -> pl.Series:
    column = frame[name]
    text = column.str.strip_chars() if column.dtype == pl.String else column
    parsed = text.cast(pl.Float64, strict=False)
    row = _first_failure(frame, name, parsed)
    if row is not None:
        bad = frame.filter(pl.col(ROW_COLUMN) == row)[name][0]
        raise BarsValidationError(f"cannot parse {bad!r} as a number", source=source, column=name, row=row)
    return parsed.alias(name)


def parse_bars_frame(
    frame: pl.DataFrame, *, source: str, symbol: str | None, row_offset: int
) -> pl.DataFrame:
    """Type and validate one untyped table of bars; ``symbol`` names a single-symbol file."""
    frame = normalize_names(frame, source).with_row_index(ROW_COLUMN, offset=row_offset)
    if "symbol" not in frame.columns:
        if symbol is None:
            raise BarsValidationError("missing required column: symbol", source=source, column="symbol")
        frame = frame.with_columns(pl.lit(symbol).alias("symbol"))
    missing = [c for c in PRICE_COLUMNS if c not in frame.columns]
    if missing:
        raise BarsValidationError(
            f"missing required column(s): {', '.join(missing)}", source=source, column=missing[0]
        )
    if "volume" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("volume"))
    typed = frame.with_columns(
        pl.col("symbol").cast(pl.String).str.strip_chars(),
        parse_timestamp(frame, source),
        *(parse_number(frame, c, source) for c in (*PRICE_COLUMNS, "volume")),
    )
    validated = validate_bars(typed.select(*BAR_COLUMNS, ROW_COLUMN), source=source)
    return validated.cast(BAR_SCHEMA)


def read_bars_file(path: Path, *, symbol: str | None = None) -> pl.DataFrame:
    """Bars from one file; a file without a ``symbol`` column holds the symbol named by its stem."""
    raw, offset = read_raw(path)
    return parse_bars_frame(raw, source=str(path), symbol=symbol or path.stem, row_offset=offset)


def bar_files(folder: Path) -> list[Path]:
    """Every bar file in ``folder``, in a stable order."""
    if not folder.exists():
        raise BarsValidationError("no such file or folder", source=str(folder))
    if folder.is_file():
        return [folder]
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise BarsValidationError(f"no {', '.join(SUFFIXES)} files", source=str(folder))
    return files


def read_bars_folder(folder: Path, *, symbols: Sequence[str] | None = None) -> pl.DataFrame:
    """Bars from every file in a folder (or a single file), optionally restricted to ``symbols``."""
    frames = [read_bars_file(path) for path in bar_files(folder)]
    combined = pl.concat(frames, how="vertical")
    if symbols:
        combined = combined.filter(pl.col("symbol").is_in(list(symbols)))
        absent = sorted(set(symbols) - set(combined["symbol"].unique().to_list()))
        if absent:
            raise BarsValidationError(
                f"symbols not found: {', '.join(absent)}", source=str(folder), column="symbol"
            )
    return validate_bars(combined, source=str(folder))
