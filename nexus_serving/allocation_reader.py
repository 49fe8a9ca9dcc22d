"""The newest materialized allocation as the v1 response body."""

from __future__ import annotations

import polars as pl
from upath import UPath

from nexus_assets.allocation_record import ASSET_FILE, StoredAllocation, allocation_from_table
from nexus_serving.allocation_schemas import AllocationLine, AllocationResponse
from nexus_serving.stored_asset import StoredAsset


def to_response(stored: StoredAllocation) -> AllocationResponse:
    table = stored.table
    lines = [
        AllocationLine(
            **{key: row[key] for key in AllocationLine.model_fields if key != "reason_codes"},
            reason_codes=[code for code in (row["reason_codes"] or "").split(",") if code],
        )
        for row in table.iter_rows(named=True)
    ]
    weights = table["target_weight"]
    return AllocationResponse(
        allocation_id=stored.allocation_id,
        as_of=stored.as_of,
        written_at=stored.written_at,
        gross_exposure=float(weights.abs().sum()),
        net_exposure=float(weights.sum()),
        lines=lines,
    )


def latest_allocation(base: str | None) -> StoredAsset[AllocationResponse]:
    """None before the first materialization; AllocationUnreadableError or StoredAssetError when broken."""

    def parse(table: pl.DataFrame, path: UPath) -> AllocationResponse:
        return to_response(allocation_from_table(table, path))

    return StoredAsset(ASSET_FILE, parse, base)
