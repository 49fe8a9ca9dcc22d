"""Headlines from user files: CSV (header row) or JSON Lines, one headline per row.

CSV columns: ``published_at`` (or timestamp/time/date), ``symbols`` (tickers separated by
``;``, ``|``, ``,`` or spaces), ``headline`` (or title/text) and an optional ``source``. A JSONL
line is an object with the same fields (``symbols`` may be a list). Rows are numbered as an
editor shows them (CSV: the header is line 1), so an error points at the line to fix.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import polars as pl

from nexus_assets.news.rows import parse_row
from nexus_assets.news.schema import NewsValidationError, headlines_frame

SUFFIXES: tuple[str, ...] = (".csv", ".jsonl", ".ndjson")


def _csv_rows(path: Path) -> list[dict[str, object]]:
    source = str(path)
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            raise NewsValidationError("no header row", source=source)
        header = {name: name.strip().lower() for name in reader.fieldnames}
        for line, record in enumerate(reader, start=2):
            if None in record:
                raise NewsValidationError(
                    "has more values than the header has columns", source=source, row=line
                )
            item = {header[k]: v for k, v in record.items()}
            rows.append(parse_row(item, source=source, row=line, default_source=path.stem))
    return rows


def _jsonl_rows(path: Path) -> list[dict[str, object]]:
    source = str(path)
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                item = json.loads(text)
            except json.JSONDecodeError as error:
                raise NewsValidationError(f"is not JSON: {error.msg}", source=source, row=line) from None
            rows.append(parse_row(item, source=source, row=line, default_source=path.stem))
    return rows


def read_news_file(path: Path) -> pl.DataFrame:
    """Headlines from one CSV or JSONL file, as the canonical table."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise NewsValidationError(
            f"unsupported file type; expected one of {', '.join(SUFFIXES)}", source=str(path)
        )
    try:
        rows = _csv_rows(path) if suffix == ".csv" else _jsonl_rows(path)
    except (OSError, UnicodeDecodeError) as error:
        raise NewsValidationError(f"cannot read file: {error}", source=str(path)) from error
    return headlines_frame(rows)


def read_news_path(path: Path) -> pl.DataFrame:
    """Every news file in a folder (or one file), combined."""
    if not path.exists():
        raise NewsValidationError("no such file or folder", source=str(path))
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
    if not files:
        raise NewsValidationError(f"no {', '.join(SUFFIXES)} files", source=str(path))
    frames = [read_news_file(file) for file in files]
    return headlines_frame([row for frame in frames for row in frame.iter_rows(named=True)])
