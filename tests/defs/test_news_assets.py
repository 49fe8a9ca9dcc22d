"""news_headlines, headline_sentiment, news_sentiment and strategy_reviews materialized in process."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from langchain_core.language_models import BaseChatModel
from llm_fakes import EchoGrokChat, ScriptedChat

from nexus_assets.defs.lona.assets import lona_strategies
from nexus_assets.defs.lona.reviews import strategy_reviews
from nexus_assets.defs.market.assets import market_bars
from nexus_assets.defs.news.assets import headline_sentiment, news_headlines, news_sentiment
from nexus_assets.resources.grok import GrokResource
from nexus_assets.resources.market_data import SimulatedMarketData
from nexus_assets.resources.news import FileNews, SimulatedNews

NEWS_ASSETS = [market_bars, news_headlines, headline_sentiment, news_sentiment]
SYMBOLS = ["AAPL", "MSFT", "SPY"]


def _grok_with(model: BaseChatModel) -> GrokResource:
    """Grok whose external service is ``model``: the only thing a test replaces."""

    class FakeServiceGrok(GrokResource):
        def chat_model(self) -> BaseChatModel | None:
            return model

    return FakeServiceGrok(batch_size=50, backoff_base_s=0.0)


def _resources(io_manager, grok: GrokResource | None = None, news=None) -> dict:
    return {
        "io_manager": io_manager,
        "market_data": SimulatedMarketData(symbols=SYMBOLS, n_bars=120),
        "news": news or SimulatedNews(news_rate=0.1),
        "grok": grok or GrokResource(),
    }


def _meta(instance: dg.DagsterInstance, key: str) -> dict:
    event = instance.get_latest_materialization_event(dg.AssetKey(key))
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def _stored(io_manager, key: str) -> pl.DataFrame:
    return pl.read_parquet(Path(io_manager.base_dir) / f"{key}.parquet")


def test_offline_news_is_scored_by_the_lexicon_and_never_fails(io_manager):
    with dg.instance_for_test() as instance:
        result = dg.materialize(NEWS_ASSETS, resources=_resources(io_manager), instance=instance)
        assert result.success
        scored_meta = _meta(instance, "headline_sentiment")
        series_meta = _meta(instance, "news_sentiment")
    headlines = _stored(io_manager, "news_headlines")
    scores = _stored(io_manager, "headline_sentiment")
    series = _stored(io_manager, "news_sentiment")
    assert scores.height == headlines.height > 18
    assert set(scores["scorer"]) == {"lexicon"}
    reasons = set(scores["fallback_reason"])
    assert {"no_api_key", "empty_headline", "oversized_headline", "suspected_injection"} <= reasons
    assert scored_meta["scorers"] == {"lexicon": scores.height}
    assert scored_meta["llm_budget"]["calls"] == 0 and "off" in scored_meta["tracing"]
    assert series.height == len(SYMBOLS) * 120 and set(series["symbol"]) == set(SYMBOLS)
    assert series["sentiment"].is_between(-1, 1).all()
    assert "newest_bar" in series_meta


def test_grok_scores_once_and_a_rerun_reads_the_cache(io_manager):
    first_model = EchoGrokChat(score=0.5)
    with dg.instance_for_test() as instance:
        assert dg.materialize(
            NEWS_ASSETS, resources=_resources(io_manager, _grok_with(first_model)), instance=instance
        ).success
        first = _stored(io_manager, "headline_sentiment")
        silent = ScriptedChat(script=[])
        again = dg.materialize(
            NEWS_ASSETS,
            resources=_resources(io_manager, _grok_with(silent)),
            instance=instance,
            selection=["headline_sentiment"],
        )
        assert again.success
        meta = _meta(instance, "headline_sentiment")
    second = _stored(io_manager, "headline_sentiment")
    readable = first.filter(pl.col("fallback_reason").is_null())
    assert readable.height > 0 and set(readable["scorer"]) == {"llm"}
    assert set(readable["score"]) == {0.5}
    assert len(first_model.prompts) >= 1 and silent.prompts == []
    assert second.filter(pl.col("scorer") == "llm")["cached"].all()
    assert meta["cache_hits"] == readable.height and meta["llm_budget"]["calls"] == 0
    llm_columns = ["headline_id", "score", "confidence", "symbols", "scored_at"]
    assert (
        second.filter(pl.col("scorer") == "llm").select(llm_columns).equals(readable.select(llm_columns))
    ), "a rerun reproduces every model score and the time it was first scored"


def test_a_bad_news_file_fails_the_asset_with_its_location(io_manager, tmp_path):
    bad = tmp_path / "news.csv"
    bad.write_text("published_at,symbols,headline\n2026-03-02,AAPL,ok\nnot-a-date,MSFT,x\n")
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [market_bars, news_headlines],
            resources=_resources(io_manager, news=FileNews(path=str(bad))),
            instance=instance,
            raise_on_error=False,
        )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure and e.step_key == "news_headlines")
    message = str(failure.step_failure_data.error)
    assert f"{bad}, row 3, field 'published_at'" in message


@pytest.mark.parametrize("with_model", [False, True])
def test_strategy_reviews_from_lona_show_their_verdicts(io_manager, lona_gateway, with_model):
    grok = _grok_with(ScriptedChat(script=['{"bad": json'] * 10)) if with_model else GrokResource()
    resources = {"io_manager": io_manager, "lona": lona_gateway, "grok": grok}
    with dg.instance_for_test() as instance:
        assert dg.materialize(
            [lona_strategies, strategy_reviews], resources=resources, instance=instance
        ).success
        meta = _meta(instance, "strategy_reviews")
    reviews = _stored(io_manager, "strategy_reviews")
    strategies = _stored(io_manager, "lona_strategies")
    assert set(reviews["strategy_id"]) == set(strategies["strategy_id"])
    assert set(reviews["verdict"]) <= {"approve", "caution", "block"}
    assert reviews["strength_scale"].is_in([0.0, 0.5, 1.0]).all()
    assert set(reviews["reviewer"]) == {"rules"}
    assert set(reviews["fallback_reason"]) == ({"malformed_answer"} if with_model else {"no_api_key"})
    table = meta["reviews"]
    assert "| strategy_id" in table and all(s in table for s in strategies["strategy_id"])
