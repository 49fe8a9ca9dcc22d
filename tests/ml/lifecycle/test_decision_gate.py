"""The predictor's champion gate also replays decisions: IC alone does not move the alias."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from mlflow import MlflowClient

from nexus_assets.ml import registry
from nexus_assets.ml.features import compute_features
from nexus_assets.ml.lifecycle.decisions import DecisionReplay, decision_scores
from nexus_assets.ml.lifecycle.predictor import train_and_register_predictor
from nexus_assets.ml.lifecycle.volatility import train_and_register_volatility_model
from nexus_assets.ml.predictor.config import LstmConfig
from nexus_assets.ml.predictor.onnx_export import OnnxPredictor
from nexus_assets.ml.predictor.sequences import build_sequences
from nexus_assets.ml.registry.pyfunc import predictor_artifact_path
from nexus_assets.ml.replay import ReplayConfig, RetrainConfig
from nexus_assets.ml.replay.champions import Contender
from nexus_assets.sim.market import MarketSimConfig, simulate_market
from nexus_assets.sim.reference_signals import reference_signals

pytestmark = pytest.mark.slow

STRONG = LstmConfig(max_epochs=8, patience=3, learning_rate=3e-3)
LIGHT_REPLAY = ReplayConfig(retrain=RetrainConfig(anomaly_trees=60))


@pytest.fixture(scope="module")
def market() -> pl.DataFrame:
    config = MarketSimConfig(
        symbols=tuple(f"S{i}" for i in range(12)), n_bars=800, seed=7, reversal=0.3, calm_to_stress=0.0
    )
    return simulate_market(config)


@pytest.fixture(scope="module")
def signals(market: pl.DataFrame) -> pl.DataFrame:
    return reference_signals(market)


@pytest.fixture(scope="module")
def features(market: pl.DataFrame, signals: pl.DataFrame) -> pl.DataFrame:
    return compute_features(market, signals)


def _champion_artifact(client: MlflowClient, folder: Path) -> OnnxPredictor:
    version = registry.champion(client, registry.PREDICTOR_MODEL)
    return OnnxPredictor(predictor_artifact_path(registry.download_version(client, version, folder)))


def test_the_verdict_carries_the_replayed_decisions(market, signals, features, tmp_path):
    client = registry.configure()
    replay = DecisionReplay(market, signals, LIGHT_REPLAY)
    first = train_and_register_predictor(
        features, workdir=tmp_path / "first", config=STRONG, folds=2, log=lambda _: None, decisions=replay
    )
    assert first.verdict.promoted, first.verdict.reason
    sharpe = first.verdict.details["candidate_policy_sharpe"]
    assert math.isfinite(sharpe)
    assert "held-out bars" in first.verdict.reason
    tags = client.get_model_version(registry.PREDICTOR_MODEL, first.verdict.version).tags
    assert float(tags["gate.candidate_policy_sharpe"]) == pytest.approx(sharpe)

    # The same model replayed as candidate and as champion decides the same: only the
    # predictor differs between the two replays.
    artifact = _champion_artifact(client, tmp_path / "champion")
    held_out = build_sequences(features, artifact.window).timestamp
    start = np.sort(np.unique(held_out))[-200]
    same = {"candidate": Contender(predictor=artifact), "champion": Contender(predictor=artifact)}
    twice = decision_scores(replay, same, start, features)
    assert twice.scores["candidate"] == twice.scores["champion"]
    assert twice.signals > 0 and twice.bars >= 200

    # A second strong run beats or ties on IC; either way both figures are on the version.
    again = train_and_register_predictor(
        features,
        workdir=tmp_path / "again",
        config=replace(STRONG, seed=STRONG.seed + 1),
        folds=2,
        log=lambda _: None,
        decisions=replay,
    )
    details = again.verdict.details
    assert {"candidate_policy_sharpe", "champion_policy_sharpe"} <= details.keys()
    if again.verdict.promoted:
        assert details["candidate_policy_sharpe"] >= details["champion_policy_sharpe"]


def test_held_out_bars_without_signals_are_judged_on_ic_and_say_so(market, features, tmp_path):
    client = registry.configure()
    quiet = pl.DataFrame(
        schema={"timestamp": pl.Datetime("us", "UTC"), "symbol": pl.String, "strategy_id": pl.String,
                "side": pl.String, "strength": pl.Float64}
    )  # fmt: skip
    outcome = train_and_register_predictor(
        features,
        workdir=tmp_path / "quiet",
        config=STRONG,
        folds=2,
        log=lambda _: None,
        decisions=DecisionReplay(market, quiet, LIGHT_REPLAY),
    )
    assert "no signal arrives in the held-out bars" in outcome.verdict.reason
    assert math.isnan(outcome.verdict.details["candidate_policy_sharpe"])
    assert registry.champion(client, registry.PREDICTOR_MODEL) is not None


def test_a_better_ic_with_worse_decisions_keeps_the_champion(tmp_path):
    """The gate's rule on a real registry: the decision metric can veto what the IC would promote."""
    client = registry.configure()
    from mlflow.models import infer_signature

    from nexus_assets.ml.registry.pyfunc import PREDICTOR_ARTIFACT, OnnxReturnPredictor
    from nexus_assets.ml.registry.release import log_and_register

    def version() -> str:
        import mlflow

        with mlflow.start_run(experiment_id=registry.ensure_experiment(client)):
            onnx = tmp_path / "p.onnx"
            onnx.write_bytes(b"")
            x = np.zeros((2, 3, 4), dtype=np.float32)
            return log_and_register(
                client, model_name=registry.PREDICTOR_MODEL, python_model=OnnxReturnPredictor(),
                artifacts={PREDICTOR_ARTIFACT: str(onnx)}, signature=infer_signature(x, np.zeros(2)),
                input_example=x, requirements=[], version_tags={},
            )  # fmt: skip

    def judge(candidate: str, ic: float, decisions: tuple[float, float]) -> registry.Verdict:
        check = registry.DecisionCheck("policy_sharpe", lambda _: decisions, lambda: "replay of 9 signals")
        return registry.judge_and_promote(
            client, model_name=registry.PREDICTOR_MODEL, version=candidate,
            metric=registry.GateMetric("ic", higher_is_better=True), candidate_score=ic,
            baseline_ok=True, baseline_reason="ok", score_champion=lambda _: 0.02,
            workdir=tmp_path / candidate, decision=check,
        )  # fmt: skip

    first = version()
    assert judge(first, 0.02, (0.5, math.nan)).promoted
    vetoed = judge(version(), 0.05, (0.3, 0.5))
    assert not vetoed.promoted
    assert "the replayed decisions are worse: policy_sharpe 0.3 vs 0.5" in vetoed.reason
    assert registry.champion_version(client, registry.PREDICTOR_MODEL) == first
    unmeasured = judge(version(), 0.05, (math.nan, math.nan))
    assert unmeasured.promoted and "judged on ic alone" in unmeasured.reason
    assert judge(version(), 0.06, (0.6, 0.5)).promoted


def test_the_volatility_gate_replays_decisions_sized_by_each_model(market, signals, tmp_path):
    replay = DecisionReplay(market, signals, LIGHT_REPLAY)
    first = train_and_register_volatility_model(
        market, workdir=tmp_path / "v1", log=lambda _: None, decisions=replay
    )
    assert first.verdict.promoted, first.verdict.reason
    assert math.isfinite(first.verdict.details["candidate_policy_sharpe"])
    # The same data fits the same coefficients: it cannot beat the champion, and sized by
    # either the replayed decisions are the same.
    again = train_and_register_volatility_model(
        market, workdir=tmp_path / "v2", log=lambda _: None, decisions=replay
    )
    assert not again.verdict.promoted
    details = again.verdict.details
    assert details["candidate_policy_sharpe"] == details["champion_policy_sharpe"]
    assert details["candidate_policy_sharpe"] == first.verdict.details["candidate_policy_sharpe"]
