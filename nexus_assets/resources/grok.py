"""Grok (xAI, through langchain-xai) for news sentiment and strategy review, with its guard rails.

The key is read from ``XAI_API_KEY`` when a call is prepared, not as a required ``EnvVar``: a
missing key is a normal, offline configuration (every score then comes from the fallback), not
an error that stops the code location from loading.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from langchain_core.language_models import BaseChatModel
from pydantic import Field

from nexus_assets.llm.budget import LlmBudget
from nexus_assets.llm.cache import LlmCache
from nexus_assets.llm.call import (
    DEFAULT_XAI_MODEL,
    LlmCaller,
    LlmSettings,
    with_response_format,
    xai_chat_model,
)
from nexus_assets.llm.tracing import CallTags, Tracing
from nexus_assets.paths import nexus_home


@dataclass
class LlmSession:
    """Everything one asset run needs to call the model: ``caller`` is None when offline."""

    caller: LlmCaller | None
    offline_reason: str
    budget: LlmBudget
    tracing: Tracing
    cache: LlmCache
    model: str

    def close(self) -> None:
        """Send queued traces before the run's process may exit."""
        self.tracing.flush()

    def __enter__(self) -> LlmSession:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class GrokResource(dg.ConfigurableResource):
    """Model, timeouts, retries, the per-run budget and the answer cache."""

    model: str = Field(
        default="", description="xAI model id; empty: NEXUS_XAI_MODEL or the built-in default."
    )
    timeout_s: float = Field(default=30.0, gt=0, description="Wall-clock limit of one call.")
    max_attempts: int = Field(
        default=3, ge=1, le=10, description="Attempts per call, retrying only rate limits."
    )
    backoff_base_s: float = Field(default=1.0, ge=0, description="First backoff after a rate limit; doubles.")
    max_calls_per_run: int = Field(default=400, ge=0, description="Budget: calls per asset run.")
    max_tokens_per_run: int = Field(default=200_000, ge=0, description="Budget: tokens per asset run.")
    max_output_tokens: int = Field(default=4096, ge=64, description="Longest answer one call may return.")
    batch_size: int = Field(
        default=1,
        ge=1,
        le=100,
        description=(
            "Headlines per sentiment call. 1: each headline is scored alone, so no headline can steer "
            "another's score; more share a call (cheaper) at that risk."
        ),
    )
    cache_path: str = Field(
        default="", description="SQLite answer cache; empty: <NEXUS_HOME>/llm_cache.sqlite."
    )

    def model_name(self) -> str:
        return self.model or os.environ.get("NEXUS_XAI_MODEL") or DEFAULT_XAI_MODEL

    def llm_settings(self) -> LlmSettings:
        return LlmSettings(
            model=self.model_name(),
            timeout_s=self.timeout_s,
            max_attempts=self.max_attempts,
            backoff_base_s=self.backoff_base_s,
            max_output_tokens=self.max_output_tokens,
            batch_size=self.batch_size,
        )

    def chat_model(self) -> BaseChatModel | None:
        """The external service: ChatXAI when ``XAI_API_KEY`` is set, else None (offline)."""
        return xai_chat_model(self.llm_settings())

    def answer_cache(self) -> LlmCache:
        return LlmCache(Path(self.cache_path) if self.cache_path else nexus_home() / "llm_cache.sqlite")

    def open_session(
        self, context: dg.AssetExecutionContext, *, prompt_version: str, schema_name: str, schema: dict
    ) -> LlmSession:
        settings = self.llm_settings()
        budget = LlmBudget(max_calls=self.max_calls_per_run, max_tokens=self.max_tokens_per_run)
        tracing = Tracing.from_env()
        model = self.chat_model()
        caller = None
        if model is not None:
            tags = CallTags(
                run_id=context.run.run_id,
                asset_key=context.asset_key.to_user_string(),
                model=settings.model,
                prompt_version=prompt_version,
            )
            runnable = with_response_format(model, schema_name, schema)
            caller = LlmCaller(runnable, settings=settings, budget=budget, tracing=tracing, tags=tags)
        return LlmSession(
            caller=caller,
            offline_reason="no_api_key",
            budget=budget,
            tracing=tracing,
            cache=self.answer_cache(),
            model=settings.model,
        )
