"""An asset table the graph materializes, read by the service only when the stored file changes.

The Parquet IO manager replaces files atomically, so a changed modification time means a
complete new table; parsing happens once per change, never per request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import polars as pl
from upath import UPath

from nexus_assets.paths import data_dir

T = TypeVar("T")


class StoredAssetError(ValueError):
    """The stored file exists but is not a readable table."""


class StoredAsset(Generic[T]):
    """``latest()`` is ``parse(table)`` for the newest stored table, None before the first one."""

    def __init__(
        self, asset_file: str, parse: Callable[[pl.DataFrame, UPath], T], base: str | None = None
    ) -> None:
        self.path = UPath(base or data_dir()) / asset_file
        self._parse = parse
        self._cached: tuple[float, T] | None = None
        self._lock = threading.Lock()

    def latest(self) -> T | None:
        try:
            modified = self.path.stat().st_mtime
        except FileNotFoundError:
            return None
        cached = self._cached
        if cached is not None and cached[0] == modified:
            return cached[1]
        with self._lock:
            try:
                with self.path.open("rb") as source:
                    table = pl.read_parquet(source)
            except (OSError, pl.exceptions.PolarsError) as exc:
                raise StoredAssetError(f"{self.path}: not a readable Parquet file ({exc})") from exc
            value = self._parse(table, self.path)
            self._cached = (modified, value)
        return value
