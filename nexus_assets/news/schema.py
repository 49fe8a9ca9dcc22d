"""The canonical headline table and its errors.

Every source (simulator, CSV/JSONL file, HTTP feed) produces this one table, so scoring never
cares where a headline came from. Errors name the source, row and field, so a user can fix
the offending line instead of guessing.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

import polars as pl

HEADLINE_SCHEMA: dict[str, pl.DataType] = {
    "headline_id": pl.String(),
    "published_at": pl.Datetime("us", "UTC"),
    "symbols": pl.List(pl.String()),
    "headline": pl.String(),
    "source": pl.String(),
}
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9.\-^=]{0,14}$")
MAX_STORED_CHARS = 20_000
"""Headlines longer than this are cut when read: nothing downstream needs a novel."""


class NewsValidationError(ValueError):
    """A headline row that cannot be trusted, located as precisely as the source allows."""

    def __init__(
        self, message: str, *, source: str, row: int | None = None, field: str | None = None
    ) -> None:
        self.source, self.row, self.field, self.reason = source, row, field, message
        where = [source]
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {message}")


def headline_id(text: str, published_at: datetime, symbols: list[str]) -> str:
    """Stable id: the same headline about the same symbols at the same time hashes the same."""
    key = f"{published_at.isoformat()}|{','.join(sorted(symbols))}|{text}"
    return "news_" + hashlib.sha256(key.encode()).hexdigest()[:16]


def empty_headlines() -> pl.DataFrame:
    return pl.DataFrame(schema=HEADLINE_SCHEMA)


def headlines_frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    """Rows (already parsed) as the canonical table: one row per id, oldest first."""
    if not rows:
        return empty_headlines()
    frame = pl.DataFrame(rows, schema=HEADLINE_SCHEMA)
    return frame.unique("headline_id", keep="first", maintain_order=True).sort("published_at", "headline_id")
