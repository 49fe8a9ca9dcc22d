"""The champion gate's decision metric: the served path replayed over the held-out bars.

A model that sizes decisions is judged by what it does to them, not only by its IC. The
candidate and the champion each drive the replay (``replay.run_replay``) of the same signals
over the same held-out bars, beside one volatility model and one anomaly detector fitted on the
bars before, so only the model under judgement differs. The metric is the policy row's Sharpe
ratio net of costs, out of sample; a candidate that lowers it keeps the champion in place.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from nexus_assets.ml import registry
from nexus_assets.ml.replay.config import ReplayConfig

if TYPE_CHECKING:
    from nexus_assets.ml.replay.champions import Contender

DECISION_METRIC = "policy_sharpe"
SIGNAL_COLUMNS = ("timestamp", "symbol", "strategy_id", "side", "strength")
MIN_CONTEXT_BARS = 100
"""Bars before the held-out part that the shared volatility model and detector fit on."""


@dataclass(frozen=True)
class DecisionReplay:
    """What the decision metric replays beyond the model: the bars and the signals of the graph."""

    bars: pl.DataFrame
    """Canonical OHLCV bars (``market_bars``)."""
    signals: pl.DataFrame
    """``timestamp, symbol, strategy_id, side, strength`` (``lona_signals`` has them)."""
    config: ReplayConfig = field(default_factory=ReplayConfig)


@dataclass(frozen=True)
class DecisionScores:
    """Each model's policy Sharpe over the held-out bars, or why none could be measured."""

    scores: dict[str, float]
    held_out_from: str
    bars: int
    signals: int
    """Signals arriving in the held-out bars."""
    unmeasured: str = ""
    """Non-empty when the held-out bars cannot judge decisions (the reason)."""

    def describe(self) -> str:
        if self.unmeasured:
            return f"decisions not replayed: {self.unmeasured}"
        return f"replay of {self.signals} signals over {self.bars} held-out bars from {self.held_out_from}"


def decision_scores(
    replay: DecisionReplay,
    contenders: dict[str, Contender],
    held_out_from: np.datetime64,
    features: pl.DataFrame | None = None,
) -> DecisionScores:
    """The policy row's Sharpe with each contender, replayed from ``held_out_from`` to the last bar.

    ``features``: those of ``replay``'s bars and signals when the caller has them (computed otherwise).
    """
    # The replay loads the optimizer and the detector; a gate without decisions never pays for them.
    from nexus_assets.ml.anomaly.rule_config import RuleConfig
    from nexus_assets.ml.features import compute_features
    from nexus_assets.ml.replay.champions import closes_only_rules, held_out_views
    from nexus_assets.ml.replay.loop import run_replay
    from nexus_assets.ml.replay.prices import replay_bars

    data = replay_bars(replay.bars)
    signals = replay.signals.select(SIGNAL_COLUMNS).filter(pl.col("symbol").is_in(data.symbols))
    stamps = data.calendar.to_numpy()
    first = int(np.searchsorted(stamps, held_out_from))
    arriving = signals.filter(pl.col("timestamp") >= data.calendar[min(first, len(stamps) - 1)]).height
    bars = len(stamps) - first
    label = str(data.calendar[first]) if first < len(stamps) else str(held_out_from)
    if first < MIN_CONTEXT_BARS:
        reason = f"{first} bars before the held-out part, the shared models need {MIN_CONTEXT_BARS}"
        return DecisionScores({}, label, bars, arriving, reason)
    if bars < 2 or arriving == 0:
        return DecisionScores({}, label, bars, arriving, "no signal arrives in the held-out bars")
    if features is None:
        features = compute_features(replay.bars, signals)
    rules = closes_only_rules(RuleConfig()) if data.closes_only else RuleConfig()
    views = held_out_views(
        data.bars,
        features,
        data.calendar,
        data.symbols,
        first,
        contenders,
        train_bars=replay.config.retrain.train_bars,
        rules=rules,
        anomaly_trees=replay.config.retrain.anomaly_trees,
    )
    scores = {
        name: float(
            run_replay(data, signals, replay.config, views=view, rows=("policy",)).metrics["policy"]["sharpe"]
        )
        for name, view in views.items()
    }
    return DecisionScores(scores, label, bars, arriving)


def decision_check(
    replay: DecisionReplay,
    candidate: Contender,
    champion_of: Callable[[Path], Contender],
    held_out_from: np.datetime64,
    features: pl.DataFrame | None = None,
) -> registry.DecisionCheck:
    """The gate's decision metric for one candidate: ``champion_of`` opens the downloaded
    champion as the same kind of contender, and both replay from ``held_out_from``."""
    replayed: list[DecisionScores] = []

    def score(champion_dir: Path | None) -> tuple[float, float]:
        contenders = {"candidate": candidate}
        if champion_dir is not None:
            contenders["champion"] = champion_of(champion_dir)
        result = decision_scores(replay, contenders, held_out_from, features)
        replayed.append(result)
        return result.scores.get("candidate", math.nan), result.scores.get("champion", math.nan)

    return registry.DecisionCheck(DECISION_METRIC, score, lambda: replayed[-1].describe())
