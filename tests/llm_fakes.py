"""Stand-ins for the xAI API at the chat-model boundary: scripted answers, errors and delays."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field


def sentiment_answer(*items: dict[str, Any]) -> str:
    return json.dumps({"items": list(items)})


def item(local_id: str, score: float, symbols: list[str], confidence: float = 0.9) -> dict[str, Any]:
    return {"id": local_id, "score": score, "confidence": confidence, "symbols": symbols, "rationale": "test"}


def rate_limit_error() -> openai.RateLimitError:
    request = httpx.Request("POST", "https://api.x.ai/v1/chat/completions")
    return openai.RateLimitError("rate limited", response=httpx.Response(429, request=request), body=None)


def api_timeout_error() -> openai.APITimeoutError:
    return openai.APITimeoutError(request=httpx.Request("POST", "https://api.x.ai/v1/chat/completions"))


class ScriptedChat(BaseChatModel):
    """Plays a script: each call takes the next entry, an answer text or an exception to raise.

    Records every prompt it was sent, so tests can assert what reached the "API" (and that a
    cached rerun sent nothing). ``delay_s`` makes every call slow, like a hung connection.
    """

    script: list[Any]
    delay_s: float = 0.0
    prompts: list[str] = Field(default_factory=list)
    tokens_per_call: int = 100

    @property
    def _llm_type(self) -> str:
        return "scripted-chat"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        self.prompts.append("\n".join(str(m.content) for m in messages))
        if self.delay_s:
            time.sleep(self.delay_s)
        if not self.script:
            raise AssertionError("the model was called more often than the test expected")
        entry = self.script.pop(0)
        if isinstance(entry, BaseException):
            raise entry
        usage = {
            "input_tokens": self.tokens_per_call - 10,
            "output_tokens": 10,
            "total_tokens": self.tokens_per_call,
        }
        return ChatResult(
            generations=[ChatGeneration(message=AIMessage(content=entry, usage_metadata=usage))]
        )


class EchoGrokChat(BaseChatModel):
    """Answers any sentiment batch: every headline in the prompt gets ``score`` for its tagged symbols."""

    score: float = 0.5
    prompts: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "echo-grok"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        import re

        prompt = "\n".join(str(m.content) for m in messages)
        self.prompts.append(prompt)
        found = re.findall(r'<headline id="(h\d+)" symbols="([^"]*)">', prompt)
        answer = sentiment_answer(*(item(i, self.score, s.split(",")) for i, s in found))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=answer))])
