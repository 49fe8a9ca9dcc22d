"""Polars frames stored as Parquet, locally or on any fsspec filesystem.

Writes are atomic on local disk (temporary file, then rename), so a run that fails while
writing never leaves a half-written or truncated asset in place of the previous good one.
"""

from __future__ import annotations

import dagster as dg
import polars as pl
from pydantic import Field
from upath import UPath

from nexus_assets.paths import data_dir
from nexus_assets.stored_files import is_local, write_atomically


class PolarsParquetIOManager(dg.UPathIOManager):
    """Stores each asset as ``<base>/<asset key path>.parquet``."""

    extension: str = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj: pl.DataFrame, path: UPath) -> None:
        if not isinstance(obj, pl.DataFrame):
            raise TypeError(
                f"{context.asset_key.to_user_string()}: expected a polars DataFrame, got {type(obj)!r}"
            )
        write_atomically(path, obj.write_parquet)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pl.DataFrame:
        if is_local(path):
            return pl.read_parquet(path.path)
        with path.open("rb") as source:
            return pl.read_parquet(source)


class ParquetIOManager(dg.ConfigurableIOManagerFactory):
    """Configurable entry point; an empty ``base_dir`` means ``NEXUS_DATA_DIR`` or ``.nexus/data``."""

    base_dir: str = Field(default="", description="Folder or fsspec URL for asset data.")

    def create_io_manager(self, context: dg.InitResourceContext) -> PolarsParquetIOManager:
        return PolarsParquetIOManager(base_path=UPath(self.base_dir or data_dir()))
