"""Telling apart the forms in which Lona answers ``GET /symbols/{id}/data``.

The original backend's client reads a plain OHLCV array from that endpoint, and follows a
symbol's ``file_url`` to a CSV when the symbol has one; the stand-in's own form is columnar
``{name, bars}``. Anything else is refused with what was found, so a changed gateway is
noticed at the first call rather than read as empty data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import polars as pl

from nexus_assets.lona.symbol_data import bars_from_payload, bars_from_records
from nexus_assets.ml.bars import BarsValidationError


@dataclass(frozen=True)
class FileLink:
    """Symbol data that lives in a CSV file at ``url``, to be downloaded."""

    url: str


def file_link(value: object, *, field: str, source: str) -> FileLink:
    """A ``file_url`` value as a link, refused unless it is an absolute http(s) URL."""
    if isinstance(value, str):
        parts = urlsplit(value.strip())
        if parts.scheme in ("http", "https") and parts.netloc:
            return FileLink(value.strip())
    raise BarsValidationError(f"{field}: expected an absolute http(s) URL, got {value!r}", source=source)


def bars_or_link(data: object, *, symbol: str, source: str) -> pl.DataFrame | FileLink:
    """Bars named ``symbol`` (columnar bars keep their own ``name``), or the file to fetch."""
    if isinstance(data, list):
        return bars_from_records(data, symbol=symbol, source=source)
    if isinstance(data, Mapping):
        if "bars" in data:
            name = data.get("name", symbol)
            if not isinstance(name, str) or not name:
                raise BarsValidationError(f"name: expected a non-empty string, got {name!r}", source=source)
            return bars_from_payload(data["bars"], symbol=name, source=source)
        if "file_url" in data:
            return file_link(data["file_url"], field="file_url", source=source)
    found = sorted(data) if isinstance(data, Mapping) else type(data).__name__
    raise BarsValidationError(
        f"expected an OHLCV array, {{file_url}} or {{name, bars}}, got {found}", source=source
    )
