"""LangSmith: traces reach the configured endpoint with the run's tags and no secret; else nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langsmith import utils as ls_utils

from nexus_assets.llm.budget import LlmBudget
from nexus_assets.llm.cache import LlmCache
from nexus_assets.llm.call import LlmCaller, LlmSettings
from nexus_assets.llm.sentiment import SentimentScorer
from nexus_assets.llm.tracing import CallTags, Tracing
from nexus_assets.ml.sentiment.prompt import PROMPT_VERSION
from nexus_assets.news.rows import parse_row
from nexus_assets.news.schema import headlines_frame

LANGSMITH_KEY = "lsv2_pt_dummy-langsmith-key-0123456789"
XAI_KEY = "xai-dummy-key-9876543210"
INFO = (
    b'{"version": "0.10.0", "batch_ingest_config": {"use_multipart_endpoint": true, '
    b'"scale_up_qsize_trigger": 1000, "scale_up_nthreads_limit": 16, "scale_down_nempty_trigger": 4, '
    b'"size_limit": 100, "size_limit_bytes": 20971520}}'
)
pytestmark = pytest.mark.timeout(60)


class Recorder(BaseHTTPRequestHandler):
    """A LangSmith endpoint that keeps every request it is sent."""

    received: list[tuple[str, str, bytes]]

    def _answer(self, body: bytes = b"{}") -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.received.append(("GET", self.path, b""))
        self._answer(INFO if self.path.startswith("/info") else b"{}")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append(("POST", self.path, body))
        self._answer()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint(monkeypatch) -> Iterator[list[tuple[str, str, bytes]]]:
    received: list[tuple[str, str, bytes]] = []
    handler = type("Handler", (Recorder,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("LANGSMITH_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    monkeypatch.setenv("LANGSMITH_PROJECT", "nexus-test")
    monkeypatch.setenv("XAI_API_KEY", XAI_KEY)
    ls_utils.get_env_var.cache_clear()
    yield received
    server.shutdown()
    ls_utils.get_env_var.cache_clear()


def _score(tmp_path: Path) -> Tracing:
    news = headlines_frame(
        [
            parse_row(
                {
                    "published_at": datetime(2026, 3, 2, tzinfo=UTC),
                    "symbols": ["AAPL"],
                    "headline": "AAPL beats estimates",
                },
                source="t",
                row=1,
                default_source="t",
            )
        ]
    )
    answer = (
        '{"items": [{"id": "h1", "score": 0.7, "confidence": 0.8, "symbols": ["AAPL"], "rationale": "beat"}]}'
    )
    tracing = Tracing.from_env()
    tags = CallTags(
        run_id="run-42", asset_key="headline_sentiment", model="grok-test", prompt_version=PROMPT_VERSION
    )
    caller = LlmCaller(
        GenericFakeChatModel(messages=iter([AIMessage(content=answer)])),
        settings=LlmSettings(model="grok-test"),
        budget=LlmBudget(),
        tracing=tracing,
        tags=tags,
    )
    scores = SentimentScorer(caller, LlmCache(tmp_path / "c.sqlite"), model="grok-test").score(news)
    assert scores["scorer"].to_list() == ["llm"]
    tracing.flush()
    return tracing


def _posted(received: list[tuple[str, str, bytes]], wait_s: float = 5.0) -> bytes:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and not any(m == "POST" for m, _, _ in received):
        time.sleep(0.05)
    return b"".join(body for method, _, body in received if method == "POST")


def test_calls_are_traced_with_run_metadata_and_without_secrets(endpoint, monkeypatch, tmp_path):
    monkeypatch.setenv("LANGSMITH_API_KEY", LANGSMITH_KEY)
    tracing = _score(tmp_path)
    assert tracing.enabled and "nexus-test" in tracing.describe()
    body = _posted(endpoint)
    assert any(path.startswith("/runs") for method, path, _ in endpoint if method == "POST"), endpoint
    for expected in (
        b'"dagster_run_id":"run-42"',
        b'"asset_key":"headline_sentiment"',
        f'"prompt_version":"{PROMPT_VERSION}"'.encode(),
        b'"model":"grok-test"',
        b"nexus-test",
    ):
        assert expected in body, expected
    assert LANGSMITH_KEY.encode() not in body
    assert XAI_KEY.encode() not in body
    assert LANGSMITH_KEY not in repr(tracing)


def test_nothing_is_sent_without_a_langsmith_key_even_with_tracing_true(endpoint, tmp_path):
    tracing = _score(tmp_path)
    assert not tracing.enabled
    time.sleep(0.5)
    assert _posted(endpoint, wait_s=0.5) == b""
    assert endpoint == []


def test_langsmith_tracing_false_wins_over_a_key(monkeypatch):
    monkeypatch.setenv("LANGSMITH_API_KEY", LANGSMITH_KEY)
    monkeypatch.setenv("LANGSMITH_TRACING", "false")
    assert not Tracing.from_env().enabled
