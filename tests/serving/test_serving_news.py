"""News in served decisions: the stored sentiment and strategy reviews reach the policy, with reasons."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime

import httpx
import polars as pl
import pytest
from serving_support import AUTH, decision_body, free_port, serve, settings_for, store_asset

from nexus_serving.news_context import REVIEWS_FILE, SENTIMENT_FILE


def newest_bar(body: dict) -> datetime:
    return datetime.fromisoformat(body["bars"]["timestamp"][-1].replace("Z", "+00:00"))


def decide_once_read(client: httpx.Client, body: dict, seen: Callable[[dict], bool]) -> dict:
    """Decide ``body`` (a fresh request_id each time) until the reader has picked the new table up."""
    deadline, attempt = time.monotonic() + 10, 0
    while True:
        decided = client.post(
            "/v1/decisions", json={**body, "request_id": f"{body['request_id']}-{attempt}"}, headers=AUTH
        ).json()
        if seen(decided) or time.monotonic() > deadline:
            return decided
        attempt += 1
        time.sleep(0.05)


@pytest.fixture
def app(trained_registry, cache_dir, tmp_path):
    with serve(
        settings_for(trained_registry, cache_dir, data_dir=str(tmp_path / "data"), news_poll_seconds=0.1)
    ) as client:
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
    shocked = decide_once_read(
        client, {**body, "request_id": "news-1"}, lambda d: any("SENTIMENT_SHOCK" in r for r in d["reasons"])
    )
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
    blocked = decide_once_read(
        client, {**body, "request_id": "news-2"}, lambda d: any("STRATEGY_REVIEW" in r for r in d["reasons"])
    )
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


def test_news_storage_that_fails_otherwise_than_not_found_does_not_fail_decisions(
    trained_registry, cache_dir, tmp_path, market
):
    (tmp_path / "a-file").write_text("not a folder")
    settings = settings_for(trained_registry, cache_dir, data_dir=str(tmp_path / "a-file" / "data"))
    with serve(settings) as client:  # every stat of the tables is NotADirectoryError
        for index in range(3):
            body = decision_body(market, request_id=f"news-notdir-{index}")
            assert client.post("/v1/decisions", json=body, headers=AUTH).status_code == 200


class SlowNotFound(http.server.BaseHTTPRequestHandler):
    """Object storage that answers every request, 404, after a second."""

    def do_HEAD(self) -> None:
        time.sleep(1.0)
        self.send_response(404)
        self.send_header("content-length", "0")
        self.end_headers()

    do_GET = do_HEAD  # noqa: N815 (the handler protocol names it)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slow_storage() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), SlowNotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/data"
    finally:
        server.shutdown()


def test_slow_news_storage_does_not_hold_decisions(trained_registry, cache_dir, slow_storage, market):
    settings = settings_for(trained_registry, cache_dir, data_dir=slow_storage, news_poll_seconds=0.2)
    with serve(settings) as client:
        for index in range(5):
            body = decision_body(market, request_id=f"news-slow-{index}")
            started = time.monotonic()
            assert client.post("/v1/decisions", json=body, headers=AUTH).status_code == 200
            assert time.monotonic() - started < 0.5  # a read of the tables takes 2 s here
