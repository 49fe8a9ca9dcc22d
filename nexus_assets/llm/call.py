"""One guarded LLM call: budget first, a wall-clock timeout, retries only on rate limits, traced.

Nothing here raises for an API problem: every failure comes back as a short reason that the
caller records next to the fallback score it uses instead, so an outage degrades a run and
never fails it. The API client's own retries are off (``max_retries=0``) so that every attempt
is one we count against the budget.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from nexus_assets.llm.budget import LlmBudget, estimate_tokens
from nexus_assets.llm.tracing import CallTags, Tracing

DEFAULT_XAI_MODEL = "grok-4.20-0309-non-reasoning"
"""A non-reasoning Grok: temperature 0 is honoured and no hidden reasoning tokens are billed."""


@dataclass(frozen=True)
class LlmSettings:
    model: str = DEFAULT_XAI_MODEL
    timeout_s: float = 30.0
    max_attempts: int = 3
    backoff_base_s: float = 1.0
    max_output_tokens: int = 4096
    batch_size: int = 1

    def __post_init__(self) -> None:
        if self.timeout_s <= 0 or self.max_attempts < 1 or self.batch_size < 1 or self.max_output_tokens < 1:
            raise ValueError("timeout_s, max_attempts, batch_size and max_output_tokens must be positive")


@dataclass(frozen=True)
class LlmReply:
    text: str | None
    failure: str | None
    tokens: int = 0


def xai_chat_model(settings: LlmSettings, api_key: str | None = None) -> BaseChatModel | None:
    """Grok through langchain-xai, or None when no key is configured (the caller falls back)."""
    key = api_key or os.environ.get("XAI_API_KEY")
    if not key:
        return None
    from langchain_xai import ChatXAI
    from pydantic import SecretStr

    return ChatXAI(
        model=settings.model,
        api_key=SecretStr(key),
        temperature=0,
        timeout=settings.timeout_s,
        max_retries=0,
        max_tokens=settings.max_output_tokens,
    )


def with_response_format(model: BaseChatModel, name: str, schema: dict[str, Any]) -> Runnable:
    """Ask an OpenAI-compatible API (xAI is one) for JSON matching ``schema``; others get the prompt alone."""
    from langchain_openai.chat_models.base import BaseChatOpenAI

    if isinstance(model, BaseChatOpenAI):
        return model.bind(
            response_format={"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
        )
    return model


def is_rate_limited(error: BaseException) -> bool:
    return getattr(error, "status_code", None) == 429 or type(error).__name__ == "RateLimitError"


def failure_reason(error: BaseException) -> str:
    """A reason fit for a table and a log: the error's kind, never its message (it may echo a key)."""
    if isinstance(error, TimeoutError | concurrent.futures.TimeoutError) or "Timeout" in type(error).__name__:
        return "timeout"
    if is_rate_limited(error):
        return "rate_limited"
    status = getattr(error, "status_code", None)
    return f"api_error: {type(error).__name__}" + (f" ({status})" if status else "")


def answer_json(text: str) -> str:
    """The JSON object in an answer, without Markdown fences or chatter around it."""
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else text


class LlmCaller:
    """Calls one chat model under one budget, timeout and tracing setup, for one asset run."""

    def __init__(
        self,
        model: Runnable,
        *,
        settings: LlmSettings,
        budget: LlmBudget,
        tracing: Tracing,
        tags: CallTags,
    ) -> None:
        self.model, self.settings, self.budget, self.tracing, self.tags = (
            model,
            settings,
            budget,
            tracing,
            tags,
        )

    def _attempt(self, messages: Sequence[tuple[str, str]], run_name: str) -> AIMessage:
        estimate = (
            estimate_tokens("".join(text for _, text in messages)) + self.settings.max_output_tokens // 4
        )
        refused = self.budget.reserve(estimate)
        if refused:
            raise BudgetRefusedError(refused)
        config = self.tags.config(run_name)

        def invoke() -> AIMessage:
            with self.tracing.active():
                return self.model.invoke(list(messages), config=config)

        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm-call")
        try:
            future = pool.submit(contextvars.copy_context().run, invoke)
            reply = future.result(timeout=self.settings.timeout_s)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        usage = getattr(reply, "usage_metadata", None) or {}
        self.budget.charge(usage.get("total_tokens") or estimate + estimate_tokens(str(reply.content)))
        return reply

    def call(self, messages: Sequence[tuple[str, str]], run_name: str) -> LlmReply:
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.max_attempts),
            wait=wait_exponential(multiplier=self.settings.backoff_base_s, max=30),
            retry=retry_if_exception(is_rate_limited),
            reraise=True,
        )
        try:
            reply = retrying(self._attempt, messages, run_name)
        except BudgetRefusedError as refused:
            return LlmReply(None, f"budget_exhausted: {refused}")
        except RetryError as error:  # pragma: no cover - reraise=True normally unwraps it
            return LlmReply(None, failure_reason(error.last_attempt.exception() or error))
        except Exception as error:  # any API fault becomes a fallback, never a failed run
            return LlmReply(None, failure_reason(error))
        text = str(reply.text)
        usage = getattr(reply, "usage_metadata", None) or {}
        return LlmReply(text, None, int(usage.get("total_tokens") or 0))


class BudgetRefusedError(Exception):
    """The budget allows no further call in this run."""
