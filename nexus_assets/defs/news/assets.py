"""Headlines from the news source, scored by Grok (or the lexicon), as a per-symbol sentiment series."""

import dagster as dg
import polars as pl
from pydantic import Field

from nexus_assets.asset_metadata import frame_metadata, markdown_table
from nexus_assets.resources.grok import GrokResource
from nexus_assets.resources.news import NewsSource


def _counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    counts = frame.group_by(column).len().sort(column).iter_rows()
    return {str(key): int(n) for key, n in counts}


@dg.asset(
    group_name="news",
    kinds={"polars", "parquet"},
    owners=["team:ml"],
    code_version="1",
    description=(
        "Timestamped, symbol-tagged headlines from the news resource (NEXUS_NEWS_SOURCE: the seeded "
        "simulator tied to `market_bars`, CSV/JSONL files or an HTTP feed). Headlines dated in the future "
        "are dropped; text is kept as published (scoring decides what the model may read)."
    ),
)
def news_headlines(
    context: dg.AssetExecutionContext, news: NewsSource, market_bars: pl.DataFrame
) -> dg.Output[pl.DataFrame]:
    from nexus_assets.clock import now_utc

    loaded = news.load_headlines(market_bars)
    headlines = loaded.filter(pl.col("published_at") <= now_utc())
    dropped = loaded.height - headlines.height
    context.log.info(
        f"{headlines.height} headlines from {news.describe_source()} ({dropped} future-dated dropped)"
    )
    return dg.Output(
        headlines,
        metadata=frame_metadata(
            headlines,
            source=news.describe_source(),
            future_dated_dropped=dropped,
            symbols=headlines.explode("symbols")["symbols"].n_unique() if headlines.height else 0,
            newest_headline=str(headlines["published_at"].max()),
        ),
    )


@dg.asset(
    group_name="news",
    kinds={"polars", "parquet"},
    owners=["team:ml"],
    code_version="1",
    automation_condition=dg.AutomationCondition.eager(),
    description=(
        "Per headline: sentiment score in [-1, 1], confidence, affected symbols and a one-line rationale "
        "from Grok (langchain-xai, temperature 0, strict JSON validated by pydantic), cached by text, "
        "model and prompt version with the time it was first scored. Falls back to a finance lexicon, "
        "recording `scorer` and `fallback_reason`, when XAI_API_KEY is unset, the run's budget is spent, "
        "the API fails or times out, the answer is malformed, or the headline is empty, oversized or "
        "looks like a prompt injection."
    ),
)
def headline_sentiment(
    context: dg.AssetExecutionContext, grok: GrokResource, news_headlines: pl.DataFrame
) -> dg.Output[pl.DataFrame]:
    from nexus_assets.llm.sentiment import SentimentScorer
    from nexus_assets.ml.sentiment.prompt import PROMPT_VERSION
    from nexus_assets.ml.sentiment.schema import SentimentAnswer

    with grok.open_session(
        context,
        prompt_version=PROMPT_VERSION,
        schema_name="sentiment_batch",
        schema=SentimentAnswer.model_json_schema(),
    ) as session:
        scorer = SentimentScorer(
            session.caller,
            session.cache,
            model=session.model,
            batch_size=grok.batch_size,
            offline_reason=session.offline_reason,
        )
        scores = scorer.score(news_headlines)
    fallbacks = scores.filter(pl.col("scorer") != "llm")
    reasons = _counts(
        fallbacks.with_columns(pl.col("fallback_reason").str.split(":").list.first()), "fallback_reason"
    )
    context.log.info(f"scored {scores.height} headlines: {_counts(scores, 'scorer')}, fallbacks {reasons}")
    return dg.Output(
        scores,
        metadata=frame_metadata(
            scores.drop("symbols"),
            model=session.model,
            prompt_version=PROMPT_VERSION,
            scorers=_counts(scores, "scorer") or {"none": 0},
            fallback_reasons=reasons or {"none": 0},
            cache_hits=int(scores["cached"].sum()),
            llm_budget=session.budget.summary(),
            tracing=session.tracing.describe(),
        ),
    )


class SentimentSeriesConfig(dg.Config):
    half_life_bars: float = Field(default=3.0, gt=0, description="Bars after which a headline weighs half.")
    shock_jump: float = Field(default=0.25, gt=0, le=2, description="Bar-to-bar change that makes a shock...")
    shock_level: float = Field(default=0.3, ge=0, le=1, description="...when the new level is at least this.")
    availability: str = Field(
        default="publication",
        description="publication: usable from publication (research/backtest); scored: never before scored_at.",
    )


@dg.asset(
    group_name="news",
    kinds={"polars", "parquet"},
    owners=["team:ml"],
    code_version="1",
    automation_condition=dg.AutomationCondition.eager(),
    description=(
        "Per symbol and bar: exponentially decayed, confidence-weighted news sentiment (half-life in bars), "
        "news mass, headline counts and a `sentiment_shock` flag (a sudden jump to a polarised level). A "
        "headline counts from the first bar closing at or after it became usable, so no bar sees later "
        "news. The allocation's policy reads the newest bar: a shock against a signal halves its size."
    ),
)
def news_sentiment(
    context: dg.AssetExecutionContext,
    config: SentimentSeriesConfig,
    headline_sentiment: pl.DataFrame,
    market_bars: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    from nexus_assets.ml.portfolio.news_inputs import latest_sentiment
    from nexus_assets.ml.sentiment.series import SeriesConfig, sentiment_series

    series_config = SeriesConfig(
        half_life_bars=config.half_life_bars,
        shock_jump=config.shock_jump,
        shock_level=config.shock_level,
        availability=config.availability,  # type: ignore[arg-type]  # validated by SeriesConfig
    )
    series = sentiment_series(headline_sentiment, market_bars, series_config)
    latest = latest_sentiment(series, market_bars)
    newest = pl.DataFrame(
        [{"symbol": s, "sentiment": round(v, 3), "shock": k} for s, (v, k) in sorted(latest.items())],
        schema={"symbol": pl.String(), "sentiment": pl.Float64(), "shock": pl.Boolean()},
    )
    shocks = int(series["sentiment_shock"].sum())
    context.log.info(f"{series.height} symbol-bars, {shocks} sentiment shocks")
    return dg.Output(
        series,
        metadata=frame_metadata(
            series,
            availability=config.availability,
            half_life_bars=config.half_life_bars,
            sentiment_shocks=shocks,
            newest_bar=dg.MetadataValue.md(markdown_table(newest) if newest.height else "(no bars)"),
        ),
    )
