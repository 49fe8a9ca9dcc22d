"""The stored ``portfolio_allocation`` table: where it lives, its id, and reading it back safely.

The asset writes it, the Live Engine publisher names orders after its id, and the decision
service answers ``GET /v1/allocations/latest`` from it; all three use this module, so the id
a trader sees in the service is the id on the orders.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl
from upath import UPath

from nexus_assets.paths import data_dir

ASSET_FILE = "portfolio_allocation.parquet"
REQUIRED_COLUMNS: dict[str, type[pl.DataType]] = {
    "symbol": pl.String,
    "target_weight": pl.Float64,
    "desired_weight": pl.Float64,
    "current_weight": pl.Float64,
    "action": pl.String,
    "confidence": pl.Float64,
    "reason_codes": pl.String,
    "reasons": pl.String,
    "signal_id": pl.String,
    "predicted_return": pl.Float64,
    "volatility_forecast": pl.Float64,
    "anomaly_score": pl.Float64,
    "price": pl.Float64,
    "as_of": pl.String,
}


class AllocationUnreadableError(ValueError):
    """The stored table exists but cannot be served (a missing or mistyped column, no rows)."""


WEIGHT_UNITS_PER_ONE = 1_000_000
"""The id sees weights in whole micro-units: a millionth of equity is below any order size."""


def canonical_weights(weights: dict[str, float]) -> dict[str, int]:
    """Weights as whole micro-units, zeros left out: the economics, not the float spelling.

    ``-0.0`` and ``0.0``, a symbol at zero and a symbol absent, and float noise far below a
    micro-unit all give the same mapping.
    """
    units = {symbol: round(weight * WEIGHT_UNITS_PER_ONE) for symbol, weight in weights.items()}
    return {symbol: unit for symbol, unit in sorted(units.items()) if unit != 0}


def canonical_time(as_of: str) -> str:
    """The bar time in one spelling (UTC, ISO 8601); text that is no time is kept as it is."""
    try:
        moment = datetime.fromisoformat(as_of)
    except ValueError:
        return as_of
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat()


def allocation_id(as_of: str, weights: dict[str, float]) -> str:
    """Same bar and same economics, same id: re-publishing an allocation can never trade twice."""
    units = canonical_weights(weights)
    text = canonical_time(as_of) + "|" + ",".join(f"{s}={u}" for s, u in units.items())
    return "alloc-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def table_allocation_id(table: pl.DataFrame) -> str:
    """The id of a ``portfolio_allocation`` table (one bar time, a target weight per symbol)."""
    weights = dict(zip(table["symbol"], table["target_weight"], strict=True))
    return allocation_id(str(table["as_of"][0]), weights)


def allocation_path(base: str | None = None) -> UPath:
    """Where the Parquet IO manager keeps the asset (``NEXUS_DATA_DIR`` or ``.nexus/data``)."""
    return UPath(base or data_dir()) / ASSET_FILE


@dataclass(frozen=True)
class StoredAllocation:
    allocation_id: str
    as_of: datetime
    written_at: datetime
    table: pl.DataFrame

    @property
    def weights(self) -> dict[str, float]:
        return dict(zip(self.table["symbol"], self.table["target_weight"], strict=True))


def _checked(table: pl.DataFrame, path: UPath) -> pl.DataFrame:
    for column, dtype in REQUIRED_COLUMNS.items():
        if column not in table.columns:
            raise AllocationUnreadableError(f"{path}: column '{column}' is missing")
        if table.schema[column] != dtype and not (dtype is pl.String and table.schema[column] == pl.Null):
            raise AllocationUnreadableError(
                f"{path}: column '{column}' is {table.schema[column]}, expected {dtype.__name__}"
            )
    if table.is_empty():
        raise AllocationUnreadableError(f"{path}: the allocation has no rows")
    if table["as_of"].n_unique() != 1:
        raise AllocationUnreadableError(f"{path}: column 'as_of' must hold one bar time")
    return table


def allocation_from_table(table: pl.DataFrame, path: UPath) -> StoredAllocation:
    """The stored table as an allocation; AllocationUnreadableError names what is wrong with it."""
    table = _checked(table, path)
    as_of_text = str(table["as_of"][0])
    try:
        as_of = datetime.fromisoformat(as_of_text)
    except ValueError as exc:
        raise AllocationUnreadableError(f"{path}: column 'as_of' holds {as_of_text!r}, not a time") from exc
    written = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    return StoredAllocation(
        table_allocation_id(table),
        as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC),
        written,
        table,
    )


def read_allocation(path: UPath) -> StoredAllocation | None:
    """The stored allocation, None when none was materialized yet; AllocationUnreadableError if broken."""
    if not path.exists():
        return None
    try:
        with path.open("rb") as source:
            table = pl.read_parquet(source)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise AllocationUnreadableError(f"{path}: not a readable Parquet file ({exc})") from exc
    return allocation_from_table(table, path)
