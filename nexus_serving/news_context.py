"""What a decision takes from the news and review assets, indexed once per stored table.

The same rules as the allocation's (``nexus_assets.ml.portfolio.news_inputs``): sentiment is the
``news_sentiment`` row of the symbol at the request's newest bar, and a signal's strength is
scaled by its strategy's review, an unreviewed strategy at ``UNREVIEWED_SCALE`` once reviews
exist. With neither table stored, decisions are exactly what they were without news.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import polars as pl
from upath import UPath

from nexus_assets.ml.portfolio.news_inputs import UNREVIEWED_SCALE, reviewed_signals
from nexus_serving.stored_asset import StoredAsset

logger = logging.getLogger(__name__)
T = TypeVar("T")

SENTIMENT_FILE, REVIEWS_FILE = "news_sentiment.parquet", "strategy_reviews.parquet"
NOT_REVIEWED = (UNREVIEWED_SCALE, "strategy not reviewed yet")


@dataclass(frozen=True)
class NewsInputs:
    sentiment: float | None = None
    sentiment_shock: bool = False
    review_scale: float = 1.0
    review_note: str | None = None


NO_NEWS = NewsInputs()
"""Neither table stored: the decision is what it would be without a news source."""


def index_sentiment(table: pl.DataFrame, path: UPath) -> dict[tuple[str, datetime], tuple[float, bool]]:
    rows = table.select("symbol", "timestamp", "sentiment", "sentiment_shock").iter_rows()
    return {(symbol, stamp): (float(value), bool(shock)) for symbol, stamp, value, shock in rows}


def index_reviews(table: pl.DataFrame, path: UPath) -> dict[str, tuple[float, str | None]]:
    reviewed = reviewed_signals(table.select("strategy_id"), table)
    return {sid: (float(scale), note) for sid, scale, note in reviewed.select(
        "strategy_id", "review_scale", "review_note"
    ).iter_rows()}  # fmt: skip


def _or_absent(asset: StoredAsset[T]) -> T | None:
    try:
        return asset.latest()
    except (ValueError, pl.exceptions.PolarsError) as exc:
        logger.warning("deciding without %s: %s", asset.path.name, exc)
        return None


@dataclass(frozen=True)
class NewsSnapshot:
    """The news tables as stored at one moment: one read serves every decision of a batch."""

    sentiment: dict[tuple[str, datetime], tuple[float, bool]]
    reviews: dict[str, tuple[float, str | None]] | None
    """None before any review is stored: signals are then taken at full strength."""

    def inputs(self, symbol: str, newest_bar: datetime, strategy_id: str) -> NewsInputs:
        """News inputs for one signal."""
        value, shock = self.sentiment.get((symbol, newest_bar), (None, False))
        scale, note = (1.0, None) if self.reviews is None else self.reviews.get(strategy_id, NOT_REVIEWED)
        return NewsInputs(value, shock, scale, note)


class NewsReader:
    def __init__(self, base: str | None) -> None:
        self._sentiment = StoredAsset(SENTIMENT_FILE, index_sentiment, base)
        self._reviews = StoredAsset(REVIEWS_FILE, index_reviews, base)

    def snapshot(self) -> NewsSnapshot:
        """The tables stored now; a table that cannot be read counts as absent."""
        return NewsSnapshot(_or_absent(self._sentiment) or {}, _or_absent(self._reviews))
