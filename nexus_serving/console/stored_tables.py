"""The graph's stored files the console reads beyond the allocation: the Lona strategies, their
reviews and the last monitoring snapshot. Each is parsed once per change of its file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl
from upath import UPath

from nexus_assets.lona.strategy_table import STRATEGY_SCHEMA
from nexus_assets.ml.review.schema import REVIEW_SCHEMA
from nexus_assets.monitoring_record import SNAPSHOT_FILE, MonitoringSnapshot, parse_snapshot
from nexus_serving.stored_asset import StoredAsset, StoredAssetError, read_bytes

STRATEGIES_FILE, REVIEWS_FILE = "lona_strategies.parquet", "strategy_reviews.parquet"


def _columns(schema: dict[str, pl.DataType]) -> Callable[[pl.DataFrame, UPath], pl.DataFrame]:
    """A parser that keeps ``schema``'s columns, naming the first one missing or mistyped."""

    def parse(table: pl.DataFrame, path: UPath) -> pl.DataFrame:
        for name, dtype in schema.items():
            if name not in table.columns:
                raise StoredAssetError(f"{path}: column {name!r} is missing")
            if table.schema[name] != dtype and table[name].null_count() < table.height:
                raise StoredAssetError(f"{path}: column {name!r} is {table.schema[name]}, not {dtype}")
        return table.select(list(schema))

    return parse


def _snapshot(body: bytes, path: UPath) -> MonitoringSnapshot:
    return parse_snapshot(body, str(path))


@dataclass(frozen=True)
class StoredTables:
    strategies: StoredAsset[pl.DataFrame]
    reviews: StoredAsset[pl.DataFrame]
    monitoring: StoredAsset[MonitoringSnapshot]


def stored_tables(base: str | None) -> StoredTables:
    return StoredTables(
        strategies=StoredAsset(STRATEGIES_FILE, _columns(STRATEGY_SCHEMA), base),
        reviews=StoredAsset(REVIEWS_FILE, _columns(REVIEW_SCHEMA), base),
        monitoring=StoredAsset(SNAPSHOT_FILE, _snapshot, base, read=read_bytes),
    )
