"""Headline sentiment's pure parts: screening, prompt, answer schema, offline lexicon, series.

The scorer that asks Grok and falls back to the lexicon is network code and lives in
``nexus_assets.llm.sentiment``.
"""

import lazy_loader

PUBLIC = {
    "guard": ["INJECTION", "screen"],
    "lexicon": ["LEXICON_VERSION", "lexicon_score"],
    "prompt": ["PROMPT_VERSION", "PromptHeadline", "messages"],
    "schema": ["SCORE_SCHEMA", "HeadlineVerdict", "SentimentAnswer"],
    "series": ["SeriesConfig", "sentiment_series"],
}
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs=PUBLIC)
