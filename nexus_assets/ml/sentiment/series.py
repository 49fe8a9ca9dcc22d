"""Per symbol and bar: exponentially decayed news sentiment and a shock flag, point in time.

A headline counts from the first bar that closes at or after the moment it became usable
(``available_at``), as Lona signals do in ``features``. ``available_at`` is the publication
time under the ``publication`` rule (research and backtests: a cached score is a fixed function
of the text, so it could have been computed then) and ``max(published_at, scored_at)`` under
the ``scored`` rule (strict live audit: no decision could use a score before it existed).

With ``d = 2 ** (-1 / half_life_bars)`` the decayed sums are ``S_t = d * S_{t-1} + sum(c * s)``
and ``M_t = d * M_{t-1} + sum(c)`` over headlines arriving at bar ``t`` (score ``s``, confidence
``c``); ``sentiment_t = S_t / (M_t + 1)``, shrunk toward 0 when there is little news. A
``sentiment_shock`` is a jump of at least ``shock_jump`` from the previous bar to a level of
at least ``shock_level`` in absolute value: sudden, strongly polarised news.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

Availability = Literal["publication", "scored"]
SENTIMENT_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "timestamp": pl.Datetime("us", "UTC"),
    "sentiment": pl.Float64(),
    "news_mass": pl.Float64(),
    "headlines": pl.Int64(),
    "llm_headlines": pl.Int64(),
    "sentiment_shock": pl.Boolean(),
}


@dataclass(frozen=True)
class SeriesConfig:
    half_life_bars: float = 3.0
    shock_jump: float = 0.25
    shock_level: float = 0.3
    availability: Availability = "publication"

    def __post_init__(self) -> None:
        if self.half_life_bars <= 0:
            raise ValueError("half_life_bars: must be positive")
        if not 0 < self.shock_jump <= 2 or not 0 <= self.shock_level <= 1:
            raise ValueError("shock_jump must be in (0, 2] and shock_level in [0, 1]")
        if self.availability not in ("publication", "scored"):
            raise ValueError("availability: publication or scored")


def available_at(availability: Availability) -> pl.Expr:
    if availability == "publication":
        return pl.col("published_at")
    return pl.max_horizontal("published_at", "scored_at")


def arrivals(scores: pl.DataFrame, bars: pl.DataFrame, config: SeriesConfig) -> pl.DataFrame:
    """Each (headline, affected symbol) with the bar it first counts at; later than the last bar: dropped."""
    exploded = (
        scores.with_columns(available_at(config.availability).alias("available_at"))
        .explode("symbols")
        .rename({"symbols": "symbol"})
        .filter(pl.col("symbol").is_not_null())
        .sort("available_at")
    )
    grid = bars.select("symbol", pl.col("timestamp").alias("bar")).sort("bar")
    # Both sides are sorted by time above; polars cannot verify that per group, so it is told.
    return exploded.join_asof(
        grid, left_on="available_at", right_on="bar", by="symbol", strategy="forward", check_sortedness=False
    ).filter(pl.col("bar").is_not_null())


def sentiment_series(
    scores: pl.DataFrame, bars: pl.DataFrame, config: SeriesConfig | None = None
) -> pl.DataFrame:
    """``SENTIMENT_SCHEMA`` rows for every bar in ``bars`` (bars without news decay toward 0)."""
    config = config or SeriesConfig()
    per_bar = (
        arrivals(scores, bars, config)
        .group_by("symbol", "bar")
        .agg(
            (pl.col("confidence") * pl.col("score")).sum().alias("cs"),
            pl.col("confidence").sum().alias("c"),
            pl.len().cast(pl.Int64).alias("headlines"),
            (pl.col("scorer") == "llm").sum().cast(pl.Int64).alias("llm_headlines"),
        )
        .rename({"bar": "timestamp"})
    )
    grid = (
        bars.select("symbol", "timestamp")
        .join(per_bar, on=["symbol", "timestamp"], how="left")
        .with_columns(pl.col("cs", "c").fill_null(0.0), pl.col("headlines", "llm_headlines").fill_null(0))
        .sort("symbol", "timestamp")
    )
    decay = 2.0 ** (-1.0 / config.half_life_bars)
    frames = []
    for _, group in grid.group_by("symbol", maintain_order=True):
        cs, c = group["cs"].to_numpy(), group["c"].to_numpy()
        s_sum, m_sum = np.empty(len(cs)), np.empty(len(cs))
        s, m = 0.0, 0.0
        for t in range(len(cs)):
            s, m = decay * s + cs[t], decay * m + c[t]
            s_sum[t], m_sum[t] = s, m
        level = s_sum / (m_sum + 1.0)
        previous = np.concatenate([[0.0], level[:-1]])
        shock = (np.abs(level - previous) >= config.shock_jump) & (np.abs(level) >= config.shock_level)
        frames.append(
            group.select("symbol", "timestamp", "headlines", "llm_headlines").with_columns(
                pl.Series("sentiment", level),
                pl.Series("news_mass", m_sum),
                pl.Series("sentiment_shock", shock),
            )
        )
    if not frames:
        return pl.DataFrame(schema=SENTIMENT_SCHEMA)
    return pl.concat(frames).select(list(SENTIMENT_SCHEMA)).cast(SENTIMENT_SCHEMA)
