"""The per-symbol views the allocation needs, computed from the newest bars with the champions."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from nexus_assets.ml.features import FEATURE_COLUMNS, acting_bars
from nexus_assets.ml.portfolio.allocation import SymbolView
from nexus_assets.ml.portfolio.covariance import shrunk_covariance
from nexus_assets.ml.portfolio.news_inputs import latest_sentiment, reviewed_signals
from nexus_assets.ml.portfolio.policy import SIDES
from nexus_assets.ml.portfolio.signal_ages import FRESH_SIGNAL_MAX_AGE_BARS, STANDING_SIGNAL_MAX_AGE_BARS
from nexus_assets.ml.portfolio.strategy_clusters import position_series, strategy_clusters
from nexus_assets.ml.volatility.inputs import inputs_for_last_bar

if TYPE_CHECKING:
    from nexus_assets.ml.registry.champions import Champions

COVARIANCE_BARS = 252
CLUSTER_WINDOW_BARS = 252
"""Bars over which two strategies' positions on a symbol are compared (``strategy_clusters``)."""


def _recent(signals: pl.DataFrame, bars: pl.DataFrame, max_age_bars: int) -> pl.DataFrame:
    """The signals no older than ``max_age_bars`` of their symbol's bars."""
    cutoff = (
        bars.sort("timestamp")
        .group_by("symbol", maintain_order=True)
        .agg(pl.col("timestamp").tail(max_age_bars).first().alias("cutoff"))
    )
    return signals.join(cutoff, on="symbol").filter(pl.col("timestamp") >= pl.col("cutoff"))


def newest_signals(signals: pl.DataFrame, bars: pl.DataFrame, max_age_bars: int) -> dict[str, dict[str, Any]]:
    """Each symbol's newest signal, if it is no older than ``max_age_bars`` of that symbol's bars."""
    newest = _recent(signals, bars, max_age_bars).sort("timestamp").group_by("symbol").last()
    return {row["symbol"]: row for row in newest.iter_rows(named=True)}


def standing_signals(
    signals: pl.DataFrame, bars: pl.DataFrame, max_age_bars: int
) -> dict[str, tuple[dict[str, Any], ...]]:
    """Each symbol's newest signal per strategy, if no older than ``max_age_bars`` of its bars."""
    fresh = _recent(signals, bars, max_age_bars)
    newest = fresh.sort("timestamp").group_by("symbol", "strategy_id").last().sort("symbol", "strategy_id")
    clusters = signal_clusters(signals, bars, CLUSTER_WINDOW_BARS, max_age_bars)
    standing: dict[str, list[dict[str, Any]]] = {}
    for row in newest.iter_rows(named=True):
        cluster = clusters.get(row["symbol"], {}).get(row["strategy_id"], row["strategy_id"])
        standing.setdefault(row["symbol"], []).append({**row, "cluster": cluster})
    return {symbol: tuple(rows) for symbol, rows in standing.items()}


def signal_clusters(
    signals: pl.DataFrame, bars: pl.DataFrame, window: int, max_age_bars: int
) -> dict[str, dict[str, str]]:
    """Per symbol, each strategy's cluster over its newest ``window`` bars (``strategy_clusters``)."""
    out: dict[str, dict[str, str]] = {}
    by_symbol = signals.partition_by("symbol", as_dict=True)
    for (symbol,), symbol_bars in bars.sort("timestamp").group_by("symbol", maintain_order=True):
        part = by_symbol.get((symbol,))
        if part is None:
            continue
        stamps = symbol_bars["timestamp"].dt.epoch("us").to_numpy()
        names = sorted(part["strategy_id"].unique().to_list())
        columns = []
        for name in names:
            mine = part.filter(pl.col("strategy_id") == name).sort("timestamp")
            rows = acting_bars(stamps, mine["timestamp"].dt.epoch("us").to_numpy())
            directions = mine["side"].replace_strict(SIDES, return_dtype=pl.Float64).to_numpy()
            keep = rows < stamps.shape[0]
            series = position_series(rows[keep], directions[keep], stamps.shape[0], max_age_bars)
            columns.append(series[-window:])
        out[symbol] = strategy_clusters(np.column_stack(columns), names)
    return out


def symbol_views(
    champions: Champions,
    bars: pl.DataFrame,
    features: pl.DataFrame,
    signals: pl.DataFrame,
    current_weights: dict[str, float],
    now: datetime,
    *,
    sentiment: pl.DataFrame | None = None,
    reviews: pl.DataFrame | None = None,
) -> tuple[list[SymbolView], np.ndarray, dict[str, float]]:
    """Views for every symbol with enough history, their covariance, and their last prices.

    ``sentiment`` (the ``news_sentiment`` table) and ``reviews`` (``strategy_reviews``) are
    optional; without them the views are exactly what they were before either existed.
    """
    window = champions.window
    recent = features.sort("symbol", "timestamp").group_by("symbol", maintain_order=True).tail(window)
    counts = dict(recent.group_by("symbol").len().iter_rows())
    symbols = sorted(s for s, n in counts.items() if n == window)
    if not symbols:
        raise ValueError(f"features: no symbol has the {window} rows the predictor's window needs")
    recent = recent.filter(pl.col("symbol").is_in(symbols))
    x = recent.select(FEATURE_COLUMNS).to_numpy().astype(np.float32).reshape(len(symbols), window, -1)
    predicted = champions.predictor.predict(x)
    variance = champions.volatility.forecast_variance(
        inputs_for_last_bar(bars.filter(pl.col("symbol").is_in(symbols)))
    )
    if reviews is not None:
        signals = reviewed_signals(signals, reviews)
    news = latest_sentiment(sentiment, bars) if sentiment is not None else {}
    newest = newest_signals(signals, bars, STANDING_SIGNAL_MAX_AGE_BARS)
    standing = standing_signals(signals, bars, STANDING_SIGNAL_MAX_AGE_BARS)
    fresh = newest_signals(signals, bars, FRESH_SIGNAL_MAX_AGE_BARS)
    views = []
    for i, symbol in enumerate(symbols):
        last_row = recent.filter(pl.col("symbol") == symbol).tail(1)
        window_bars = bars.filter(pl.col("symbol") == symbol).tail(window)
        assessment = champions.anomaly.score(last_row, window_bars, fresh.get(symbol), now)
        views.append(
            SymbolView(
                symbol=symbol,
                predicted_return=float(predicted[i]),
                volatility=float(np.sqrt(variance[i])),
                anomaly_score=assessment.score,
                current_weight=current_weights.get(symbol, 0.0),
                signal=newest.get(symbol),
                signals=standing.get(symbol, ()),
                sentiment=news[symbol][0] if symbol in news else None,
                sentiment_shock=news[symbol][1] if symbol in news else False,
            )
        )
    wide = (
        bars.filter(pl.col("symbol").is_in(symbols))
        .pivot(on="symbol", index="timestamp", values="close")
        .sort("timestamp")
        .tail(COVARIANCE_BARS + 1)
        .select(symbols)
        .to_numpy()
    )
    covariance = shrunk_covariance(np.diff(np.log(wide), axis=0), np.array([v.volatility for v in views]))
    prices = dict(bars.sort("timestamp").group_by("symbol").last().select("symbol", "close").iter_rows())
    return views, covariance, {s: float(prices[s]) for s in symbols}
