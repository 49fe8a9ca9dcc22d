"""The payloads of ``GET /symbols/{id}/data`` and of CSV files, both ways.

Lona answers symbol data in one of three forms (``nexus_assets.lona.symbol_forms`` tells them
apart): a plain OHLCV array, ``[{"timestamp", "open", "high", "low", "close", "volume"}, ...]``,
as the original backend's client reads it; a ``file_url`` to a CSV; or, from this project's
stand-in by default, columnar bars (one list per field, oldest first), several times smaller
than a list of objects and mapped straight onto a polars frame::

    {"data": {"symbol_id": "5f0c...", "name": "AAPL", "frequency": "1d",
              "bars": {"timestamp": ["2021-01-04T21:00:00Z", ...],
                       "open": [...], "high": [...], "low": [...],
                       "close": [...], "volume": [...]}}}

Uploads and ``file_url`` files are CSV with the header ``timestamp,open,high,low,close,volume``.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import polars as pl

from nexus_assets.lona.wire import format_time, parse_time
from nexus_assets.ml.bars import (
    BAR_SCHEMA,
    ROW_COLUMN,
    BarsValidationError,
    empty_bars,
    validate_bars,
)

BAR_FIELDS: tuple[str, ...] = ("timestamp", "open", "high", "low", "close", "volume")
NUMBER_FIELDS: tuple[str, ...] = BAR_FIELDS[1:]


def bars_payload(frame: pl.DataFrame) -> dict[str, list[Any]]:
    """Columnar JSON-ready bars of one symbol, oldest first."""
    frame = frame.sort("timestamp")
    payload: dict[str, list[Any]] = {"timestamp": [format_time(t) for t in frame["timestamp"]]}
    for field in NUMBER_FIELDS:
        payload[field] = frame[field].to_list()
    return payload


def bars_records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """One JSON-ready object per bar, oldest first: the plain OHLCV array Lona may answer."""
    payload = bars_payload(frame)
    return [
        dict(zip(BAR_FIELDS, row, strict=True)) for row in zip(*(payload[f] for f in BAR_FIELDS), strict=True)
    ]


def bars_from_payload(bars: object, *, symbol: str, source: str) -> pl.DataFrame:
    """Canonical, validated bars from a columnar payload; raises BarsValidationError."""
    if not isinstance(bars, Mapping):
        raise BarsValidationError("'bars' must be an object of columns", source=source)
    for field in BAR_FIELDS:
        if not isinstance(bars.get(field), list):
            raise BarsValidationError("column is missing or not a list", source=source, column=field)
    lengths = {len(bars[field]) for field in BAR_FIELDS}
    if len(lengths) != 1:
        raise BarsValidationError("columns have different lengths", source=source)
    if lengths == {0}:
        return empty_bars()
    timestamps = []
    for row, value in enumerate(bars["timestamp"], start=1):
        try:
            timestamps.append(parse_time(value))
        except ValueError as exc:
            raise BarsValidationError(str(exc), source=source, column="timestamp", row=row) from exc
    columns: dict[str, pl.Series] = {"timestamp": pl.Series(timestamps, dtype=BAR_SCHEMA["timestamp"])}
    for field in NUMBER_FIELDS:
        values = bars[field]
        for row, value in enumerate(values, start=1):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise BarsValidationError(
                    f"expected a number, got {value!r}", source=source, column=field, row=row
                )
        columns[field] = _require_present(pl.Series(values, dtype=pl.Float64, strict=False), field, source)
    frame = pl.DataFrame(columns).with_columns(
        pl.lit(symbol, dtype=pl.String).alias("symbol"),
        pl.int_range(1, pl.len() + 1).alias(ROW_COLUMN),
    )
    return validate_bars(frame, source=source)


def bars_from_records(records: list[Any], *, symbol: str, source: str) -> pl.DataFrame:
    """Canonical, validated bars from a plain OHLCV array; strict on types, so a wrong value is
    named by its place (``data[3].close``) instead of being coerced. Later checks (prices that
    contradict each other) name ``row n``, which is ``data[n-1]``."""
    columns: dict[str, list[Any]] = {field: [] for field in BAR_FIELDS}
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise BarsValidationError(f"data[{index}]: expected an object, got {record!r}", source=source)
        for field in BAR_FIELDS:
            if field not in record:
                raise BarsValidationError(f"data[{index}].{field}: missing", source=source)
            value = record[field]
            if field == "timestamp":
                if not isinstance(value, str):
                    raise BarsValidationError(
                        f"data[{index}].timestamp: expected ISO 8601 text, got {value!r}", source=source
                    )
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise BarsValidationError(
                    f"data[{index}].{field}: expected a number, got {value!r}", source=source
                )
            columns[field].append(value)
    for index, value in enumerate(columns["timestamp"]):
        try:
            parse_time(value)
        except ValueError as exc:
            raise BarsValidationError(f"data[{index}].timestamp: {exc}", source=source) from exc
    return bars_from_payload(columns, symbol=symbol, source=source)


def bars_from_csv(data: bytes, *, symbol: str, source: str) -> pl.DataFrame:
    """Canonical, validated bars from CSV text; errors name the data row (1 = first) and column."""
    try:
        raw = pl.read_csv(io.BytesIO(data), infer_schema=False)
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
        raise BarsValidationError(f"not a readable CSV file ({exc})", source=source) from exc
    raw = raw.rename({name: name.strip().lower() for name in raw.columns})
    missing = [c for c in BAR_FIELDS if c not in raw.columns]
    if missing:
        raise BarsValidationError(
            f"missing required column(s): {', '.join(missing)}", source=source, column=missing[0]
        )
    if raw.is_empty():
        raise BarsValidationError("no bars", source=source)
    timestamps = []
    for row, value in enumerate(raw["timestamp"], start=1):
        try:
            timestamps.append(parse_time(value))
        except ValueError as exc:
            raise BarsValidationError(str(exc), source=source, column="timestamp", row=row) from exc
    columns: dict[str, pl.Series] = {"timestamp": pl.Series(timestamps, dtype=BAR_SCHEMA["timestamp"])}
    for field in NUMBER_FIELDS:
        text = raw[field].str.strip_chars()
        numbers = text.cast(pl.Float64, strict=False)
        bad = (text.is_not_null() & (text != "") & numbers.is_null()).arg_true()
        if len(bad):
            row = int(bad[0]) + 1
            raise BarsValidationError(
                f"not a number: {text[row - 1]!r}", source=source, column=field, row=row
            )
        columns[field] = _require_present(numbers, field, source)
    frame = pl.DataFrame(columns).with_columns(
        pl.lit(symbol, dtype=pl.String).alias("symbol"),
        pl.int_range(1, pl.len() + 1).alias(ROW_COLUMN),
    )
    return validate_bars(frame, source=source)


def _require_present(values: pl.Series, field: str, source: str) -> pl.Series:
    """Reject gaps here: the bar validation lets a missing volume through."""
    missing = values.is_null().arg_true()
    if len(missing):
        raise BarsValidationError("value is missing", source=source, column=field, row=int(missing[0]) + 1)
    return values


def bars_to_csv(frame: pl.DataFrame) -> bytes:
    """CSV for ``POST /symbols`` from canonical bars of one symbol."""
    table = frame.sort("timestamp").select(
        pl.Series("timestamp", [format_time(t) for t in frame.sort("timestamp")["timestamp"]]),
        *NUMBER_FIELDS,
    )
    return table.write_csv().encode()
