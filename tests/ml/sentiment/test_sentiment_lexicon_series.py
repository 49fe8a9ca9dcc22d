"""The offline lexicon and the point-in-time, decayed per-bar sentiment series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from nexus_assets.ml.sentiment.lexicon import lexicon_score
from nexus_assets.ml.sentiment.schema import SCORE_SCHEMA
from nexus_assets.ml.sentiment.series import SeriesConfig, sentiment_series

CLOSE = datetime(2026, 3, 2, 21, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "sign"),
    [
        ("AAPL beats estimates and raises guidance", 1),
        ("MSFT misses estimates, cuts outlook", -1),
        ("NVDA did not beat estimates", -1),
        ("XOM schedules quarterly earnings call", 0),
    ],
)
def test_lexicon_reads_finance_tone_with_negation(text, sign):
    result = lexicon_score(text)
    assert (result.score > 0) - (result.score < 0) == sign
    assert 0.0 <= result.confidence <= 0.6


@pytest.mark.parametrize("text", ["", "   ", "AAPL 株価が急落、業績見通しを下方修正"])
def test_lexicon_is_neutral_and_unsure_on_what_it_cannot_read(text):
    result = lexicon_score(text)
    assert (result.score, result.confidence) == (0.0, 0.0)


def _bars(n: int = 6) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "symbol": ["AAPL"] * n,
            "timestamp": [CLOSE + timedelta(days=i) for i in range(n)],
            "close": [1.0] * n,
        }
    )


def _scores(*rows: tuple[datetime, datetime, float]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "headline_id": f"h{i}",
                "published_at": published,
                "scored_at": scored,
                "symbols": ["AAPL"],
                "score": score,
                "confidence": 1.0,
                "rationale": "",
                "scorer": "llm",
                "fallback_reason": None,
                "model": "m",
                "prompt_version": "p",
                "cached": False,
            }
            for i, (published, scored, score) in enumerate(rows)
        ],
        schema=SCORE_SCHEMA,
    )


def test_a_headline_counts_from_the_first_close_after_it_and_decays():
    after_close = CLOSE + timedelta(hours=1)
    series = sentiment_series(
        _scores((after_close, after_close, 1.0)), _bars(), SeriesConfig(half_life_bars=1)
    )
    values = series["sentiment"].to_list()
    assert values[0] == 0.0, "news after the close is not known at that bar"
    assert values[1] == pytest.approx(0.5)  # 1 * 1 / (1 + 1)
    assert values[2] == pytest.approx(0.5 / 1.5)  # S and M halve: 0.5 / (0.5 + 1)
    assert series["headlines"].to_list() == [0, 1, 0, 0, 0, 0]


def test_the_scored_rule_never_uses_a_score_before_it_existed():
    published, scored = CLOSE - timedelta(hours=2), CLOSE + timedelta(days=2, hours=1)
    scores = _scores((published, scored, -1.0))
    by_publication = sentiment_series(scores, _bars(), SeriesConfig(availability="publication"))
    by_scoring = sentiment_series(scores, _bars(), SeriesConfig(availability="scored"))
    assert by_publication["headlines"].to_list()[0] == 1
    assert by_scoring["headlines"].to_list() == [0, 0, 0, 1, 0, 0]


def test_a_sudden_polarised_jump_is_a_shock_and_a_drift_is_not():
    scores = _scores(
        (CLOSE + timedelta(days=1, hours=-3), CLOSE, -0.9),
        (CLOSE + timedelta(days=1, hours=-2), CLOSE, -0.8),
    )
    series = sentiment_series(scores, _bars(), SeriesConfig(half_life_bars=2))
    assert series["sentiment_shock"].to_list() == [False, True, False, False, False, False]
    assert series["sentiment"][1] < -0.5


def test_news_for_symbols_without_bars_or_after_the_last_bar_is_dropped():
    late = CLOSE + timedelta(days=30)
    scores = _scores((late, late, 1.0)).with_columns(pl.lit(["AAPL"]).alias("symbols"))
    series = sentiment_series(scores, _bars())
    assert series["headlines"].sum() == 0 and series.height == 6
