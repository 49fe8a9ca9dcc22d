"""What a decision takes from the news and review assets, indexed once per stored table.

The same rules as the allocation's (``nexus_assets.ml.portfolio.news_inputs``): sentiment is the
``news_sentiment`` row of the symbol at the request's newest bar, and a signal's strength is
scaled by its strategy's review, an unreviewed strategy at ``UNREVIEWED_SCALE`` once reviews
exist. With neither table stored, decisions are exactly what they were without news.

The tables are read by a background thread every ``interval_s``, never by a decision: a
``stat`` over ``az://`` on the event loop would hold every request of the worker, and a read
that fails for any reason keeps the tables read last instead of failing decisions.
"""

from __future__ import annotations

import logging
import threading
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


EMPTY = NewsSnapshot({}, None)


class NewsReader:
    def __init__(self, base: str | None, interval_s: float = 5.0) -> None:
        self._sentiment = StoredAsset(SENTIMENT_FILE, index_sentiment, base)
        self._reviews = StoredAsset(REVIEWS_FILE, index_reviews, base)
        self._interval_s = interval_s
        self._current = EMPTY
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def snapshot(self) -> NewsSnapshot:
        """The tables as last read; no I/O, so a decision on the event loop never waits for storage."""
        return self._current

    def refresh(self) -> NewsSnapshot:
        """Read the tables stored now (only a changed file is parsed again)."""
        current = self._current
        sentiment = _read(self._sentiment, current.sentiment or None)
        reviews = _read(self._reviews, current.reviews)
        self._current = NewsSnapshot(sentiment or {}, reviews)
        return self._current

    def start(self) -> None:
        """Read once now, then every ``interval_s`` on a daemon thread (0: only now)."""
        self.refresh()
        if self._interval_s > 0:
            self._thread = threading.Thread(target=self._run, name="news-reader", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.refresh()


def _read(asset: StoredAsset[T], previous: T | None) -> T | None:
    """The asset's newest table, or ``previous`` when it cannot be read (logged, never raised)."""
    try:
        return asset.latest()
    except Exception as exc:
        logger.warning("news input %s not read, keeping the last one read: %s", asset.path.name, exc)
        return previous
