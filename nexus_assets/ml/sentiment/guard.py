"""Which headlines never reach the model, and why: the cheap checks that come before any spend."""

from __future__ import annotations

import re

MAX_LLM_CHARS = 2_000
"""Longer than any real headline: junk or an attack, so the lexicon reads its start instead."""
INJECTION = re.compile(
    r"ignore (all |any )?(previous|prior|above|earlier) (instructions|prompts?)|disregard (the |all )?"
    r"(previous|prior|above) |you are now |^\s*(system|assistant)\s*:|\b(system|assistant)\s*:|"
    r"reveal (your|the) (api key|system prompt|instructions)|</?headline",
    re.IGNORECASE,
)


def screen(text: str) -> str | None:
    """The reason a headline goes straight to the fallback, or None when the model may read it."""
    if not text.strip():
        return "empty_headline"
    if len(text) > MAX_LLM_CHARS:
        return "oversized_headline"
    if INJECTION.search(text):
        return "suspected_injection"
    return None
