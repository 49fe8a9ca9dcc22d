"""One ordinary buy signal for the policy tests, changed field by field per case."""

from __future__ import annotations

import math
from dataclasses import replace

from nexus_assets.ml.portfolio.policy import PolicyConfig, SignalContext

CONFIG = PolicyConfig()
DAILY_TARGET = 0.10 / math.sqrt(252)
"""The daily volatility target of the default config (10% a year)."""


def signal_context(**changes: object) -> SignalContext:
    base = SignalContext(
        symbol="AAPL", side="buy", strength=0.5, predicted_return=0.001, volatility=0.02, anomaly_score=0.2
    )
    return replace(base, **changes)
