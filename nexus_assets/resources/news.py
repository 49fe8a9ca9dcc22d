"""News headlines behind one resource interface: simulator (default), CSV/JSONL files, HTTP feed."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from nexus_assets.news.feed import fetch_news
from nexus_assets.news.files import read_news_path
from nexus_assets.news.simulated import simulate_headlines


class NewsSource(dg.ConfigurableResource):
    """Interface every news source implements."""

    def load_headlines(self, bars: pl.DataFrame) -> pl.DataFrame:
        """Headlines in the canonical table (``nexus_assets.news.schema``); ``bars`` is the market."""
        raise NotImplementedError(f"{type(self).__name__} does not implement load_headlines")

    def describe_source(self) -> str:
        return type(self).__name__


class SimulatedNews(NewsSource):
    """Seeded headlines that follow the bars' big moves, plus a few adversarial ones."""

    seed: int = Field(default=11, description="Same seed and bars, same headlines.")
    news_rate: float = Field(
        default=0.12, ge=0, le=1, description="Chance of routine news per symbol and bar."
    )
    include_adversarial: bool = Field(
        default=True, description="Empty, huge, non-English, injection headlines."
    )

    def load_headlines(self, bars: pl.DataFrame) -> pl.DataFrame:
        return simulate_headlines(
            bars, seed=self.seed, news_rate=self.news_rate, include_adversarial=self.include_adversarial
        )

    def describe_source(self) -> str:
        return f"simulator(seed={self.seed})"


class FileNews(NewsSource):
    """A CSV or JSONL file, or a folder of them."""

    path: str = Field(description="File or folder of .csv/.jsonl headline files.")

    def load_headlines(self, bars: pl.DataFrame) -> pl.DataFrame:
        return read_news_path(Path(self.path))

    def describe_source(self) -> str:
        return f"files({self.path})"


class HttpNews(NewsSource):
    """A JSON or JSONL feed over HTTP; the optional token is sent as a bearer header, never logged."""

    url: str
    token: str | None = Field(default=None, description="Bearer token (from NEXUS_NEWS_TOKEN).")
    timeout_s: float = Field(default=10.0, gt=0)

    def load_headlines(self, bars: pl.DataFrame) -> pl.DataFrame:
        return fetch_news(self.url, token=self.token, timeout_s=self.timeout_s)

    def describe_source(self) -> str:
        return f"http({self.url.split('?')[0]})"


def news_source_from_env() -> NewsSource:
    """The source named by ``NEXUS_NEWS_SOURCE`` (simulator, file or http)."""
    source = os.environ.get("NEXUS_NEWS_SOURCE", "simulator").strip().lower()
    if source == "simulator":
        return SimulatedNews()
    if source == "file":
        return FileNews(path=dg.EnvVar("NEXUS_NEWS_PATH"))
    if source == "http":
        token = dg.EnvVar("NEXUS_NEWS_TOKEN") if os.environ.get("NEXUS_NEWS_TOKEN") else None
        return HttpNews(url=dg.EnvVar("NEXUS_NEWS_URL"), token=token)
    raise ValueError(f"NEXUS_NEWS_SOURCE: expected simulator, file or http, got {source!r}")
