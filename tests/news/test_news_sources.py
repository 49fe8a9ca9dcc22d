"""Headline sources: CSV/JSONL files with located errors, an HTTP feed, and the seeded simulator."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import polars as pl
import pytest

from nexus_assets.news.feed import fetch_news
from nexus_assets.news.files import read_news_file, read_news_path
from nexus_assets.news.schema import HEADLINE_SCHEMA, NewsValidationError
from nexus_assets.news.simulated import simulate_headlines
from nexus_assets.sim.market import MarketSimConfig, simulate_market

CSV = """published_at,symbols,headline,source
2026-03-02T14:30:00Z,AAPL,AAPL beats estimates,wire
2026-03-02 15:00:00,MSFT;NVDA,"Chips, cloud and AI: MSFT and NVDA rally",wire
2026-03-03T09:00:00+01:00,aapl,,wire
"""


def test_csv_rows_become_the_canonical_table(tmp_path):
    path = tmp_path / "news.csv"
    path.write_text(CSV)
    news = read_news_file(path)
    assert news.schema == pl.Schema(HEADLINE_SCHEMA)
    assert news["symbols"].to_list() == [["AAPL"], ["MSFT", "NVDA"], ["AAPL"]]
    assert str(news["published_at"][2]) == "2026-03-03 08:00:00+00:00", "offsets are converted to UTC"
    assert news["headline"][2] == "", "an empty headline is kept; scoring gives it a reason"
    assert news["headline_id"].is_unique().all()


def test_jsonl_accepts_lists_and_aliases(tmp_path):
    path = tmp_path / "news.jsonl"
    lines = [{"timestamp": "2026-03-02T14:30:00Z", "symbols": ["XOM"], "title": "XOM cuts output"}, {}]
    path.write_text(json.dumps(lines[0]) + "\n\n")
    news = read_news_path(tmp_path)
    assert news.row(0, named=True)["headline"] == "XOM cuts output" and news["source"][0] == "news"


@pytest.mark.parametrize(
    ("content", "suffix", "row", "field", "message"),
    [
        ("published_at,symbols,headline\nyesterday,AAPL,x\n", ".csv", 2, "published_at", "ISO 8601"),
        (
            "published_at,symbols,headline\n2026-03-02,AAPL,x\n2026-03-02,,y\n",
            ".csv",
            3,
            "symbols",
            "no ticker",
        ),
        ("published_at,symbols,headline\n2026-03-02,AA PL!,x\n", ".csv", 2, "symbols", "not a ticker"),
        (
            '{"published_at": "2026-03-02", "symbols": ["AAPL"], "headline": "ok"}\n{oops\n',
            ".jsonl",
            2,
            None,
            "not JSON",
        ),
        (
            '{"published_at": "2026-03-02", "symbols": "AAPL", "headline": 42}\n',
            ".jsonl",
            1,
            "headline",
            "not text",
        ),
        ('["not", "an", "object"]\n', ".jsonl", 1, None, "not an object"),
    ],
)
def test_a_bad_row_names_file_row_and_field(tmp_path, content, suffix, row, field, message):
    path = tmp_path / f"feed{suffix}"
    path.write_text(content)
    with pytest.raises(NewsValidationError) as caught:
        read_news_file(path)
    error = caught.value
    assert (error.source, error.row, error.field) == (str(path), row, field)
    assert message in str(error) and str(path) in str(error) and f"row {row}" in str(error)


def test_missing_and_unsupported_paths_are_named(tmp_path):
    with pytest.raises(NewsValidationError, match="no such file"):
        read_news_path(tmp_path / "absent")
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(NewsValidationError, match="unsupported file type"):
        read_news_file(tmp_path / "x.txt")


@pytest.fixture
def feed() -> Iterator[tuple[str, list[dict]]]:
    seen: list[dict] = []
    body = json.dumps(
        {"items": [{"published_at": "2026-03-02T14:30:00Z", "symbols": "SPY", "headline": "Fed holds"}]}
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(dict(self.headers))
            payload = body.encode() if self.path == "/news" else b"nope"
            self.send_response(200 if self.path == "/news" else 500)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()


def test_http_feed_items_are_read_with_a_bearer_token(feed):
    root, seen = feed
    news = fetch_news(f"{root}/news", token="feed-token")
    assert news["symbols"].to_list() == [["SPY"]] and news["source"][0] == "feed"
    assert seen[0]["Authorization"] == "Bearer feed-token"
    with pytest.raises(NewsValidationError, match="cannot fetch the feed"):
        fetch_news(f"{root}/broken")


def test_the_simulator_is_seeded_tied_to_the_bars_and_adversarial():
    bars = simulate_market(MarketSimConfig(symbols=("AAPL", "MSFT"), n_bars=300))
    news = simulate_headlines(bars, seed=3)
    assert news.equals(simulate_headlines(bars, seed=3))
    assert set(news.explode("symbols")["symbols"]) == {"AAPL", "MSFT"}
    assert news["published_at"].max() <= bars["timestamp"].max()
    texts = news["headline"].to_list()
    assert "" in texts and max(map(len, texts)) > 10_000
    assert any("Ignore previous instructions" in t for t in texts)
    assert any(not t.isascii() for t in texts)
    ups = news.filter(pl.col("headline").str.contains("beats|rally|upgrade"))
    downs = news.filter(pl.col("headline").str.contains("misses|plunge|downgrade"))
    assert ups.height > 5 and downs.height > 5
