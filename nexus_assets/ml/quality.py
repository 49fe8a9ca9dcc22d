"""Data-quality measurements shared by asset checks and tests.

Each function returns counts or ages rather than a verdict, so the caller decides severity
and the UI can show how bad a failure is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import polars as pl


def ohlc_violations(bars: pl.DataFrame) -> int:
    """Rows whose prices cannot describe a real bar (non-positive, high < low, body outside range)."""
    broken = (
        (pl.min_horizontal("open", "high", "low", "close") <= 0)
        | (pl.col("high") < pl.col("low"))
        | (pl.col("high") < pl.max_horizontal("open", "close"))
        | (pl.col("low") > pl.min_horizontal("open", "close"))
    )
    return int(bars.select(broken.sum()).item())


def duplicate_keys(frame: pl.DataFrame, keys: Sequence[str] = ("symbol", "timestamp")) -> int:
    """Rows that share their key with an earlier row."""
    return frame.height - frame.select(keys).unique().height


def unordered_rows(frame: pl.DataFrame, group: str = "symbol", order: str = "timestamp") -> int:
    """Rows whose ``order`` value is not strictly after the previous row of the same group."""
    previous = pl.col(order).shift(1).over(group)
    return int(frame.select((previous.is_not_null() & (pl.col(order) <= previous)).sum()).item())


def null_counts(frame: pl.DataFrame, columns: Sequence[str]) -> dict[str, int]:
    """Nulls (and, for floats, NaN or infinities) per column, only where there are any."""
    counts: dict[str, int] = {}
    for column in columns:
        series = frame[column]
        bad = series.null_count()
        if series.dtype.is_float():
            bad += int((~series.drop_nulls().is_finite()).sum())
        if bad:
            counts[column] = bad
    return counts


def newest_age(frame: pl.DataFrame, now: datetime, column: str = "timestamp") -> timedelta | None:
    """How old the newest row is at ``now`` (None for an empty frame)."""
    newest = frame[column].max()
    if newest is None:
        return None
    return now - newest
