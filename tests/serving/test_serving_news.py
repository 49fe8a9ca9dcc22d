"""News in served decisions: the stored sentiment and strategy reviews reach the policy, with reasons."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest
from serving_support import AUTH, decision_body, serve, settings_for, store_asset

from nexus_serving.news_context import REVIEWS_FILE, SENTIMENT_FILE


def newest_bar(body: dict) -> datetime:
    return datetime.fromisoformat(body["bars"]["timestamp"][-1].replace("Z", "+00:00"))


@pytest.fixture
def app(trained_registry, cache_dir, tmp_path):
    with serve(settings_for(trained_registry, cache_dir, data_dir=str(tmp_path / "data"))) as client:
        yield client, tmp_path / "data"


def test_sentiment_shock_and_review_reach_the_decision(app, market):
    client, data_dir = app
    body = decision_body(market, request_id="news-0", symbol="S5", side="buy")
    plain = client.post("/v1/decisions", json=body, headers=AUTH).json()
    assert not any(r.startswith(("SENTIMENT_SHOCK", "STRATEGY_REVIEW")) for r in plain["reasons"])

    store_asset(
        pl.DataFrame(
            {
                "symbol": ["S5"],
                "timestamp": [newest_bar(body)],
                "sentiment": [-0.8],
                "sentiment_shock": [True],
            }
        ),
        data_dir,
        SENTIMENT_FILE,
    )
    shocked = client.post("/v1/decisions", json={**body, "request_id": "news-1"}, headers=AUTH).json()
    assert any(r.startswith("SENTIMENT_SHOCK") and "-0.80" in r for r in shocked["reasons"]), shocked
    assert plain["target_weight"] > 0, "the test needs a buy the policy takes"
    assert 0 < shocked["target_weight"] < plain["target_weight"], "a shock against the signal cuts its size"

    store_asset(
        pl.DataFrame(
            {
                "strategy_id": ["st-1"],
                "verdict": ["block"],
                "strength_scale": [0.0],
                "reviewer": ["rules"],
                "rationale": ["3 trades: too few to trust"],
            }
        ),
        data_dir,
        REVIEWS_FILE,
    )
    blocked = client.post("/v1/decisions", json={**body, "request_id": "news-2"}, headers=AUTH).json()
    assert any(r.startswith("STRATEGY_REVIEW") and "blocked" in r for r in blocked["reasons"]), blocked
    assert blocked["target_weight"] == 0.0, "a blocked strategy adds no risk"

    unknown = {**body, "request_id": "news-3", "signal": {**body["signal"], "strategy_id": "st-new"}}
    halved = client.post("/v1/decisions", json=unknown, headers=AUTH).json()
    assert any("not reviewed yet" in r for r in halved["reasons"]), halved


def test_an_unreadable_news_table_does_not_fail_decisions(app, market):
    client, data_dir = app
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / SENTIMENT_FILE).write_bytes(b"not parquet")
    response = client.post("/v1/decisions", json=decision_body(market, request_id="news-bad"), headers=AUTH)
    assert response.status_code == 200, response.text
