"""The LLM calls: Grok through langchain-xai, budgeted, cached, traced, with an offline fallback.

``call`` makes one guarded call (budget, timeout, retries on rate limits, tracing); ``cache``
keeps answers in SQLite; ``budget`` and ``tracing`` are its limits and LangSmith set-up.
``sentiment`` scores headlines and ``review`` reviews strategies with it, falling back to the
offline scorers of ``nexus_assets.ml.sentiment`` and ``nexus_assets.ml.review``.
"""
