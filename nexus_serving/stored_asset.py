"""A file the graph materializes, read by the service only when it changes.

The graph replaces its files atomically (``nexus_assets.stored_files``), so a changed
modification time means a complete new file; parsing happens once per change, never per request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, BinaryIO, Generic, TypeVar

import polars as pl
from upath import UPath

from nexus_assets.paths import data_dir

T = TypeVar("T")


class StoredAssetError(ValueError):
    """The stored file exists but is not a readable table."""


def read_bytes(source: BinaryIO) -> bytes:
    return source.read()


class StoredAsset(Generic[T]):
    """``latest()`` is ``parse(read(file))`` for the newest stored file, None before the first one.

    ``read`` is Parquet by default (an asset table); ``read_bytes`` hands a document to ``parse``.
    """

    def __init__(
        self,
        asset_file: str,
        parse: Callable[[Any, UPath], T],
        base: str | None = None,
        read: Callable[[BinaryIO], Any] = pl.read_parquet,
    ) -> None:
        self.path = UPath(base or data_dir()) / asset_file
        self._parse = parse
        self._read = read
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
                    content = self._read(source)
            except (OSError, pl.exceptions.PolarsError) as exc:
                raise StoredAssetError(f"{self.path}: not a readable file ({exc})") from exc
            value = self._parse(content, self.path)
            self._cached = (modified, value)
        return value
