"""The replay's settings: what ``nexus backtest`` and ``backtest_report`` configure (light to import)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from nexus_assets.ml.portfolio.signal_ages import STANDING_SIGNAL_MAX_AGE_BARS
from nexus_assets.ml.predictor.config import LstmConfig


@dataclass(frozen=True)
class RetrainConfig:
    retrain_every: int = 252
    """Bars between two retrains (252: yearly on daily bars)."""
    train_bars: int = 1260
    """Trailing bars each fit sees (five years of daily bars); the last fifth validates the LSTM."""
    lstm: LstmConfig = field(default_factory=lambda: LstmConfig(max_epochs=10, patience=3))
    anomaly_trees: int = 300

    def __post_init__(self) -> None:
        if self.retrain_every < 1:
            raise ValueError("retrain_every: must be at least 1")
        if self.train_bars < 100:
            raise ValueError("train_bars: must be at least 100")


@dataclass(frozen=True)
class ReplayConfig:
    cost_bps: float = 5.0
    rebalance_every: int = 5
    warmup: int = 504
    """First decision bar: the first champions are trained on the bars before it."""
    target_volatility: float = 0.10
    max_weight: float = 0.25
    max_gross: float = 1.0
    max_turnover: float = 1.0
    holding_bars: int = 21
    covariance_window: int = 252
    standing_bars: int = STANDING_SIGNAL_MAX_AGE_BARS
    drawdown_review_bars: int = 21
    """Bars after the drawdown breaker trips until the replayed operator resets the book's
    high-water mark (``POST /v1/risk/books/{book}/reset`` in production); without a reset a book
    that may only reduce risk can never recover."""
    retrain: RetrainConfig = field(default_factory=RetrainConfig)

    def check_history(self, bars: int) -> None:
        """Refuse a price history too short for the warm-up and one decision after it."""
        if bars <= self.warmup + 1:
            raise ValueError(
                f"prices: {bars} bars, the backtest needs more than warmup + 1 = {self.warmup + 1}"
            )

    def __post_init__(self) -> None:
        if not (math.isfinite(self.cost_bps) and self.cost_bps >= 0):
            raise ValueError("cost_bps (--cost-bps): must be a finite number >= 0")
        if not 0.0 < self.max_gross <= 3.0:
            raise ValueError("max_gross: must be in (0, 3]")
        if not 0.0 < self.max_weight <= self.max_gross:
            raise ValueError("max_weight (--max-weight): must be in (0, max_gross]")
        if not 0.0 < self.target_volatility <= 1.0:
            raise ValueError("target_volatility (--target-volatility): must be in (0, 1]")
        for name in (
            "rebalance_every",
            "covariance_window",
            "standing_bars",
            "holding_bars",
            "drawdown_review_bars",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1")
        if self.warmup < 252:
            raise ValueError(
                "warmup (--warmup): must be at least 252 bars (the first champions train on them)"
            )
