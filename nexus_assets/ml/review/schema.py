"""The reviewer's verdict on one Lona strategy, and the table of verdicts the allocation reads."""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

Verdict = Literal["approve", "caution", "block"]
VERDICT_SCALE: dict[str, float] = {"approve": 1.0, "caution": 0.5, "block": 0.0}
"""Signal strength kept per verdict: ours to choose, never the model's."""
SEVERITY: dict[str, int] = {"approve": 0, "caution": 1, "block": 2}


class ReviewAnswer(BaseModel):
    """What the model must return for one strategy (untrusted: strict and bounded)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    verdict: Verdict
    overfitting_risk: Literal["low", "medium", "high"]
    lookahead_suspected: bool
    excessive_leverage: bool
    missing_stops: bool
    findings: list[str] = Field(max_length=8)
    rationale: str = Field(max_length=300)


REVIEW_SCHEMA: dict[str, pl.DataType] = {
    "strategy_id": pl.String(),
    "name": pl.String(),
    "version": pl.String(),
    "verdict": pl.String(),
    "strength_scale": pl.Float64(),
    "rules_verdict": pl.String(),
    "llm_verdict": pl.String(),
    "findings": pl.String(),
    "rationale": pl.String(),
    "reviewer": pl.String(),
    "fallback_reason": pl.String(),
    "model": pl.String(),
    "prompt_version": pl.String(),
    "reviewed_at": pl.Datetime("us", "UTC"),
    "cached": pl.Boolean(),
}
"""``verdict`` is the stricter of the rules' and the model's: the model can tighten, never loosen."""


def stricter(a: str, b: str | None) -> str:
    return a if b is None or SEVERITY[a] >= SEVERITY[b] else b
