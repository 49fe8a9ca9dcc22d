"""Metadata that makes a polars asset legible in the Dagster UI: rows, schema, preview."""

from __future__ import annotations

from typing import Any

import dagster as dg
import polars as pl

_DAGSTER_TYPES = {
    pl.String: "string",
    pl.Float64: "float64",
    pl.Int64: "int64",
    pl.Boolean: "bool",
}


def _type_name(dtype: pl.DataType) -> str:
    for polars_type, name in _DAGSTER_TYPES.items():
        if dtype == polars_type:
            return name
    return str(dtype)


def table_schema(frame: pl.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name, _type_name(dtype)) for name, dtype in frame.schema.items()]
    )


def markdown_table(frame: pl.DataFrame) -> str:
    """A frame rendered as a Markdown table by polars' own formatter."""
    with pl.Config(
        tbl_formatting="MARKDOWN",
        tbl_hide_column_data_types=True,
        tbl_hide_dataframe_shape=True,
        tbl_rows=frame.height,
        tbl_cols=frame.width,
        fmt_str_lengths=40,
        tbl_width_chars=60_000,  # never wrapped: Markdown rows are one line each
    ):
        return str(frame)


def frame_metadata(frame: pl.DataFrame, *, preview_rows: int = 10, **extra: Any) -> dict[str, Any]:
    """Row count, column schema and a Markdown preview, plus anything asset-specific."""
    preview = markdown_table(frame.head(preview_rows)) if frame.height else "(empty)"
    return {
        "dagster/row_count": frame.height,
        "dagster/column_schema": table_schema(frame),
        "preview": dg.MetadataValue.md(preview),
        **extra,
    }
