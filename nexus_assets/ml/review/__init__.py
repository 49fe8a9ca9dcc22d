"""Strategy review's pure parts: the offline rules, the prompt and the verdict schema.

The reviewer that asks Grok lives in ``nexus_assets.llm.review``; the rules always run and set
the floor of its verdict.
"""

import lazy_loader

PUBLIC = {
    "rules": ["review_rules"],
    "prompt": ["REVIEW_PROMPT_VERSION", "review_messages"],
    "schema": ["REVIEW_SCHEMA", "VERDICT_SCALE", "ReviewAnswer", "stricter"],
}
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs=PUBLIC)
