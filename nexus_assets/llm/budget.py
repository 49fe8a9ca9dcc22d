"""A spending limit for the LLM calls of one run: a number of calls and of tokens.

Checked before every call with an estimate and charged after with what the API reported, so
a run can overshoot the token limit by at most one call's answer, never by a loop of retries.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class LlmBudget:
    max_calls: int = 400
    max_tokens: int = 200_000
    calls: int = 0
    tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_calls < 0 or self.max_tokens < 0:
            raise ValueError("max_calls/max_tokens: must be >= 0")

    def reserve(self, estimated_tokens: int) -> str | None:
        """Count one call if the budget allows it; otherwise say why not."""
        with self._lock:
            if self.calls >= self.max_calls:
                return f"budget exhausted: {self.calls} of {self.max_calls} calls used"
            if self.tokens + estimated_tokens > self.max_tokens:
                return f"budget exhausted: {self.tokens} of {self.max_tokens} tokens used"
            self.calls += 1
            return None

    def charge(self, tokens: int) -> None:
        with self._lock:
            self.tokens += max(int(tokens), 0)

    def summary(self) -> dict[str, int]:
        return {
            "calls": self.calls,
            "max_calls": self.max_calls,
            "tokens": self.tokens,
            "max_tokens": self.max_tokens,
        }


def estimate_tokens(text: str) -> int:
    """About four characters per token, rounded up: good enough for a budget check."""
    return len(text) // 4 + 1
