"""Headline sentiment with Grok, cached, budgeted, and a lexicon whenever Grok cannot answer.

Each headline gets a score in [-1, 1], a confidence in [0, 1], the symbols it affects and a
one-line rationale, plus ``scorer`` (llm or lexicon) and ``fallback_reason`` (why not llm):
no API key, budget spent, timeout, rate limit, API error, malformed or invalid answer, or a
headline screened out before any spend (empty, oversized, suspected prompt injection). A run
never fails because of the model.

Each headline is asked alone by default (``batch_size`` 1): text in one headline cannot steer
the score of another, which the injection screen alone cannot promise. Where headlines share
a call, an answer must name exactly the headlines asked, each once, or none of it is used or
cached. Only an answer that passed every check is cached.

Point in time: an answer is cached with ``scored_at``, the moment it was first obtained, and
reruns reuse it, so scores are reproducible. Which time a score becomes usable is decided
downstream (``sentiment_series``): the publication time for research and backtests, never
before ``scored_at`` in the strict live rule.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl
from pydantic import ValidationError

from nexus_assets.llm.cache import LlmCache, cache_key
from nexus_assets.llm.call import LlmCaller, answer_json
from nexus_assets.ml.sentiment.guard import screen
from nexus_assets.ml.sentiment.lexicon import LEXICON_VERSION, lexicon_score
from nexus_assets.ml.sentiment.prompt import PROMPT_VERSION, PromptHeadline, messages
from nexus_assets.ml.sentiment.schema import SCORE_SCHEMA, HeadlineVerdict, SentimentAnswer

CACHE_KIND = "sentiment"


@dataclass(frozen=True)
class _Pending:
    """One distinct text to score, and every headline row that carries it."""

    key: str
    rows: list[dict[str, Any]]

    @property
    def row(self) -> dict[str, Any]:
        return self.rows[0]


def _now() -> datetime:
    return datetime.now(UTC)


class SentimentScorer:
    """Scores a headline table (``nexus_assets.news.schema``) into ``SCORE_SCHEMA`` rows."""

    def __init__(
        self,
        caller: LlmCaller | None,
        cache: LlmCache,
        *,
        model: str,
        batch_size: int = 1,
        offline_reason: str = "no_api_key",
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.caller, self.cache, self.model, self.batch_size = caller, cache, model, batch_size
        self.offline_reason, self.clock = offline_reason, clock

    def score(self, headlines: pl.DataFrame) -> pl.DataFrame:
        rows: list[dict[str, Any]] = []
        pending: dict[str, _Pending] = {}
        for row in headlines.iter_rows(named=True):
            text, symbols = row["headline"], list(row["symbols"])
            reason = screen(text)
            if reason:
                rows.append(self._fallback(row, reason))
                continue
            key = cache_key(CACHE_KIND, f"{','.join(symbols)}\x1e{text}", self.model, PROMPT_VERSION)
            hit = self.cache.get(key)
            if hit is not None:
                rows.append(self._llm_row(row, hit.payload, hit.scored_at, cached=True))
            else:
                # The same text about the same symbols is asked once per run, however often it recurs.
                pending.setdefault(key, _Pending(key, [])).rows.append(row)
        distinct = list(pending.values())
        for start in range(0, len(distinct), self.batch_size):
            rows.extend(self._score_batch(distinct[start : start + self.batch_size]))
        if not rows:
            return pl.DataFrame(schema=SCORE_SCHEMA)
        return pl.DataFrame(rows, schema=SCORE_SCHEMA).sort("published_at", "headline_id")

    def _score_batch(self, batch: Sequence[_Pending]) -> list[dict[str, Any]]:
        if self.caller is None:
            return [self._fallback(r, self.offline_reason) for p in batch for r in p.rows]
        local = {f"h{i + 1}": p for i, p in enumerate(batch)}
        prompt = [PromptHeadline(i, p.row["headline"], tuple(p.row["symbols"])) for i, p in local.items()]
        reply = self.caller.call(messages(prompt), run_name="news_sentiment")
        if reply.text is None:
            return [self._fallback(r, reply.failure or "api_error") for p in batch for r in p.rows]
        verdicts, problem = parse_answer(reply.text, expected=set(local))
        if problem:
            return [self._fallback(r, problem) for p in batch for r in p.rows]
        scored_at = self.clock()
        out = []
        for local_id, item in local.items():
            verdict = verdicts.get(local_id)
            if verdict is None:
                out.extend(self._fallback(r, "missing_from_answer") for r in item.rows)
                continue
            outside = set(verdict.symbols) - set(item.row["symbols"])
            if outside:
                reason = f"symbols_outside_tags: {','.join(sorted(outside))}"
                out.extend(self._fallback(r, reason) for r in item.rows)
                continue
            payload = {
                "score": verdict.score,
                "confidence": verdict.confidence,
                "symbols": sorted(set(verdict.symbols)),
                "rationale": " ".join(verdict.rationale.split()),
            }
            self.cache.put(
                item.key,
                kind=CACHE_KIND,
                model=self.model,
                prompt_version=PROMPT_VERSION,
                payload=payload,
                scored_at=scored_at,
            )
            out.extend(self._llm_row(r, payload, scored_at, cached=False) for r in item.rows)
        return out

    def _llm_row(
        self, row: dict[str, Any], payload: dict[str, Any], scored_at: datetime, *, cached: bool
    ) -> dict[str, Any]:
        return {
            "headline_id": row["headline_id"],
            "published_at": row["published_at"],
            "scored_at": scored_at,
            "symbols": payload["symbols"],
            "score": float(payload["score"]),
            "confidence": float(payload["confidence"]),
            "rationale": payload["rationale"],
            "scorer": "llm",
            "fallback_reason": None,
            "model": self.model,
            "prompt_version": PROMPT_VERSION,
            "cached": cached,
        }

    def _fallback(self, row: dict[str, Any], reason: str) -> dict[str, Any]:
        suspicious = reason == "suspected_injection"
        result = lexicon_score(row["headline"][:600])
        return {
            "headline_id": row["headline_id"],
            "published_at": row["published_at"],
            "scored_at": self.clock(),
            "symbols": list(row["symbols"]),
            # Text that tried to instruct the model must not move a decision either way.
            "score": 0.0 if suspicious else result.score,
            "confidence": 0.0 if suspicious else result.confidence,
            "rationale": result.note,
            "scorer": "lexicon",
            "fallback_reason": reason,
            "model": LEXICON_VERSION,
            "prompt_version": None,
            "cached": False,
        }


def parse_answer(
    text: str, expected: set[str] | None = None
) -> tuple[dict[str, HeadlineVerdict], str | None]:
    """Verdicts by headline id, or the reason the whole answer is unusable: malformed, invalid,
    or (given ``expected``) an id not asked or given twice, which means the answer cannot be
    trusted to keep the headlines apart."""
    raw = answer_json(text)
    try:
        json.loads(raw)
    except json.JSONDecodeError:
        return {}, "malformed_answer"
    try:
        answer = SentimentAnswer.model_validate_json(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return {}, f"invalid_answer: {where}"
    verdicts: dict[str, HeadlineVerdict] = {}
    for item in answer.items:
        if item.id in verdicts:
            return {}, f"invalid_answer: {item.id} answered twice"
        if expected is not None and item.id not in expected:
            return {}, f"invalid_answer: {item.id} was not asked"
        verdicts[item.id] = item
    return verdicts, None
