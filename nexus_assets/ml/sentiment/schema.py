"""What the model must answer for a batch of headlines, and the scored table we keep.

The model's answer is untrusted: strict pydantic models with bounded, finite numbers and no
extra fields. An answer that fails them is never repaired, its headlines go to the fallback.
"""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

MAX_RATIONALE_CHARS = 200


class HeadlineVerdict(BaseModel):
    """The model's reading of one headline."""

    model_config = ConfigDict(strict=True, extra="forbid")

    id: str = Field(max_length=64)
    score: float = Field(
        ge=-1.0, le=1.0, allow_inf_nan=False, description="-1 very negative .. +1 very positive"
    )
    confidence: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    symbols: list[str] = Field(max_length=20, description="Tagged symbols the headline affects")
    rationale: str = Field(max_length=MAX_RATIONALE_CHARS, description="One line")


class SentimentAnswer(BaseModel):
    """One answer covers a whole batch of headlines."""

    model_config = ConfigDict(strict=True, extra="forbid")

    items: list[HeadlineVerdict] = Field(max_length=200)


SCORE_SCHEMA: dict[str, pl.DataType] = {
    "headline_id": pl.String(),
    "published_at": pl.Datetime("us", "UTC"),
    "scored_at": pl.Datetime("us", "UTC"),
    "symbols": pl.List(pl.String()),
    "score": pl.Float64(),
    "confidence": pl.Float64(),
    "rationale": pl.String(),
    "scorer": pl.String(),
    "fallback_reason": pl.String(),
    "model": pl.String(),
    "prompt_version": pl.String(),
    "cached": pl.Boolean(),
}
"""Per headline: ``symbols`` are the affected ones (the model's choice among the tags, or every
tag for the lexicon); ``scorer`` is ``llm`` or ``lexicon``; ``fallback_reason`` says why not llm."""
