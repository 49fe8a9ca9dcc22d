"""Grok reviews each Lona strategy's code and backtest; rules always run and set the floor.

The final verdict is the stricter of the rules' and the model's, and maps to the share of
signal strength the allocation keeps (approve 1, caution 0.5, block 0). Without the model
(no key, budget spent, timeout, bad answer, code that addresses the reviewer) the rules'
verdict stands alone, with the reason recorded. Answers are cached by code, statistics,
model and prompt version, so a strategy is reviewed once per version, not once per run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import polars as pl
from pydantic import ValidationError

from nexus_assets.llm.cache import LlmCache, cache_key
from nexus_assets.llm.call import LlmCaller, answer_json
from nexus_assets.ml.review.prompt import REVIEW_PROMPT_VERSION, review_messages
from nexus_assets.ml.review.rules import review_rules
from nexus_assets.ml.review.schema import REVIEW_SCHEMA, VERDICT_SCALE, ReviewAnswer, stricter
from nexus_assets.ml.sentiment.guard import INJECTION

CACHE_KIND = "strategy_review"
STAT_COLUMNS = ("total_return", "sharpe_ratio", "max_drawdown", "win_rate", "total_trades")


def _now() -> datetime:
    return datetime.now(UTC)


def parse_review(text: str) -> tuple[ReviewAnswer | None, str | None]:
    raw = answer_json(text)
    try:
        json.loads(raw)
    except json.JSONDecodeError:
        return None, "malformed_answer"
    try:
        return ReviewAnswer.model_validate_json(raw), None
    except ValidationError as error:
        first = error.errors()[0]
        return None, "invalid_answer: " + ".".join(str(p) for p in first["loc"])


class StrategyReviewer:
    def __init__(
        self,
        caller: LlmCaller | None,
        cache: LlmCache,
        *,
        model: str,
        offline_reason: str = "no_api_key",
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.caller, self.cache, self.model = caller, cache, model
        self.offline_reason, self.clock = offline_reason, clock

    def review(self, strategies: pl.DataFrame) -> pl.DataFrame:
        rows = [self._review_one(row) for row in strategies.iter_rows(named=True)]
        return (
            pl.DataFrame(rows, schema=REVIEW_SCHEMA).sort("strategy_id")
            if rows
            else pl.DataFrame(schema=REVIEW_SCHEMA)
        )

    def _review_one(self, strategy: Mapping[str, Any]) -> dict[str, Any]:
        code = strategy.get("code") or ""
        stats = {k: strategy.get(k) for k in STAT_COLUMNS}
        rules = review_rules(code, stats)
        answer, reason, reviewed_at, cached = None, None, self.clock(), False
        if not code.strip():
            reason = "no_code"
        elif INJECTION.search(code):
            reason = "suspected_injection"
        else:
            key = cache_key(
                CACHE_KIND,
                code + "\x1e" + json.dumps(stats, sort_keys=True, default=str),
                self.model,
                REVIEW_PROMPT_VERSION,
            )
            hit = self.cache.get(key)
            if hit is not None:
                answer, reviewed_at, cached = ReviewAnswer.model_validate(hit.payload), hit.scored_at, True
            else:
                answer, reason = self._ask(code, stats)
                if answer is not None:
                    self.cache.put(
                        key,
                        kind=CACHE_KIND,
                        model=self.model,
                        prompt_version=REVIEW_PROMPT_VERSION,
                        payload=answer.model_dump(),
                        scored_at=reviewed_at,
                    )
        verdict = stricter(rules.verdict, answer.verdict if answer else None)
        findings = list(rules.findings)
        if answer is not None:
            findings += [f"model: {' '.join(f.split())[:200]}" for f in answer.findings]
        return {
            "strategy_id": strategy["strategy_id"],
            "name": strategy.get("name"),
            "version": strategy.get("version"),
            "verdict": verdict,
            "strength_scale": VERDICT_SCALE[verdict],
            "rules_verdict": rules.verdict,
            "llm_verdict": answer.verdict if answer else None,
            "findings": "; ".join(findings),
            "rationale": " ".join(answer.rationale.split()) if answer else _summary(rules.findings),
            "reviewer": "llm+rules" if answer else "rules",
            "fallback_reason": reason,
            "model": self.model if answer else "rules",
            "prompt_version": REVIEW_PROMPT_VERSION if answer else None,
            "reviewed_at": reviewed_at,
            "cached": cached,
        }

    def _ask(self, code: str, stats: Mapping[str, Any]) -> tuple[ReviewAnswer | None, str | None]:
        if self.caller is None:
            return None, self.offline_reason
        reply = self.caller.call(review_messages(code, stats), run_name="strategy_review")
        if reply.text is None:
            return None, reply.failure or "api_error"
        return parse_review(reply.text)


def _summary(findings: list[str]) -> str:
    serious = [f for f in findings if not f.startswith("info")]
    return serious[0] if serious else "no rule fired"
