"""The champion/challenger lifecycle against a real MLflow tracking store and registry."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import polars as pl
import pytest
from mlflow import MlflowClient

from nexus_assets.ml import registry
from nexus_assets.ml.anomaly import REQUIRED_FEATURES, AnomalyDetector
from nexus_assets.ml.features import compute_features
from nexus_assets.ml.lifecycle.anomaly import train_and_register_anomaly_detector
from nexus_assets.ml.lifecycle.predictor import train_and_register_predictor
from nexus_assets.ml.lifecycle.volatility import train_and_register_volatility_model
from nexus_assets.ml.predictor.config import LstmConfig
from nexus_assets.ml.predictor.lstm import TrainingDivergedError
from nexus_assets.ml.predictor.onnx_export import OnnxPredictor
from nexus_assets.ml.predictor.sequences import build_sequences
from nexus_assets.ml.registry.pyfunc import (
    anomaly_artifact_dir,
    predictor_artifact_path,
    volatility_artifact_file,
)
from nexus_assets.ml.volatility.model import INPUT_COLUMNS, VolatilityModel, volatility_inputs
from nexus_assets.sim.market import MarketSimConfig, simulate_market

pytestmark = pytest.mark.slow

STRONG = LstmConfig(max_epochs=8, patience=3, learning_rate=3e-3)
WEAK = LstmConfig(max_epochs=1, learning_rate=1e-5, hidden_size=8, seed=3)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mlflow")


@pytest.fixture(autouse=True)
def shared_store(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One tracking store per module: the lifecycle is a sequence of runs against one registry."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_ARTIFACT_ROOT", str(store / "artifacts"))


@pytest.fixture(scope="module")
def learnable_market() -> pl.DataFrame:
    """Calm regime and a strong short-term reversal: a market where skill is measurable in a test."""
    config = MarketSimConfig(
        symbols=tuple(f"S{i}" for i in range(12)), n_bars=800, seed=7, reversal=0.3, calm_to_stress=0.0
    )
    return simulate_market(config)


def _versions(name: str) -> int:
    return len(MlflowClient().search_model_versions(f"name='{name}'"))


def _train(features: pl.DataFrame, config: LstmConfig, tmp_path: Path, label: str):
    return train_and_register_predictor(
        features, workdir=tmp_path / label, config=config, folds=2, log=lambda _: None
    )


def test_predictor_champion_moves_only_for_a_better_model(learnable_market, tmp_path):
    features = compute_features(learnable_market)
    client = registry.configure()

    weak = _train(features, WEAK, tmp_path, "weak")
    assert not weak.verdict.promoted
    assert "does not beat the naive baselines" in weak.verdict.reason
    assert registry.champion(client, registry.PREDICTOR_MODEL) is None

    strong = _train(features, STRONG, tmp_path, "strong")
    assert strong.verdict.promoted, strong.verdict.reason
    assert registry.champion_version(client, registry.PREDICTOR_MODEL) == strong.verdict.version
    assert strong.parity_error <= 1e-5

    worse = _train(
        features, LstmConfig(max_epochs=1, learning_rate=1e-5, hidden_size=8, seed=4), tmp_path, "worse"
    )
    assert not worse.verdict.promoted
    assert registry.champion_version(client, registry.PREDICTOR_MODEL) == strong.verdict.version
    tags = client.get_model_version(registry.PREDICTOR_MODEL, worse.verdict.version).tags
    assert tags["gate.promoted"] == "False"
    assert tags["gate.reason"] == worse.verdict.reason

    # An operator rolled the alias back to the weak version; a better model must take it over,
    # judged against that champion on the same out-of-sample windows.
    client.set_registered_model_alias(registry.PREDICTOR_MODEL, registry.CHAMPION_ALIAS, weak.verdict.version)
    better = _train(features, STRONG, tmp_path, "better")
    assert better.verdict.promoted
    assert better.verdict.champion_version == weak.verdict.version
    assert better.verdict.candidate_score > better.verdict.champion_score
    assert registry.champion_version(client, registry.PREDICTOR_MODEL) == better.verdict.version


def test_champion_artifact_reproduces_the_reported_metric(learnable_market, tmp_path):
    client = registry.configure()
    champion = registry.champion(client, registry.PREDICTOR_MODEL)
    model_dir = registry.download_version(client, champion, tmp_path / "champion")
    artifact = OnnxPredictor(predictor_artifact_path(model_dir))
    pyfunc = mlflow.pyfunc.load_model(f"models:/{registry.PREDICTOR_MODEL}@champion")
    windows = build_sequences(compute_features(learnable_market), artifact.window).x[:64]
    assert np.array_equal(pyfunc.predict(windows), artifact.predict(windows))


def test_diverged_training_registers_nothing(learnable_market, tmp_path):
    before = _versions(registry.PREDICTOR_MODEL)
    blown = compute_features(learnable_market).with_columns(pl.col("ret_1") * 1e36)
    with pytest.raises(TrainingDivergedError):
        _train(blown, STRONG, tmp_path, "blown")
    assert _versions(registry.PREDICTOR_MODEL) == before
    failed = mlflow.search_runs(
        experiment_names=[registry.EXPERIMENT_NAME], filter_string="status = 'FAILED'"
    )
    assert len(failed) == 1


def test_volatility_and_anomaly_lifecycles(learnable_market, tmp_path):
    client = registry.configure()
    first = train_and_register_volatility_model(learnable_market, workdir=tmp_path / "v1", log=lambda _: None)
    assert first.verdict.promoted, first.verdict.reason
    assert first.metrics["walk_forward_qlike_model"] < first.metrics["walk_forward_qlike_garch11"]
    again = train_and_register_volatility_model(learnable_market, workdir=tmp_path / "v2", log=lambda _: None)
    assert not again.verdict.promoted
    assert again.verdict.champion_score == pytest.approx(again.verdict.candidate_score)
    champion = registry.champion(client, registry.VOLATILITY_MODEL)
    assert str(champion.version) == first.verdict.version
    stored = VolatilityModel.from_dict(
        json.loads(
            volatility_artifact_file(registry.download_version(client, champion, tmp_path / "vd")).read_text()
        )
    )
    assert stored == first.model
    inputs = volatility_inputs(learnable_market).select(INPUT_COLUMNS).head(20)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{registry.VOLATILITY_MODEL}@champion")
    assert np.array_equal(pyfunc.predict(inputs.to_pandas()), stored.forecast_variance(inputs))

    detector = train_and_register_anomaly_detector(
        learnable_market, workdir=tmp_path / "a1", log=lambda _: None
    )
    assert detector.verdict.promoted, detector.verdict.reason
    assert detector.metrics["detector_auc"] > detector.metrics["baseline_auc"]
    model_dir = registry.download_version(
        client, registry.champion(client, registry.ANOMALY_MODEL), tmp_path / "ad"
    )
    loaded = AnomalyDetector.load(anomaly_artifact_dir(model_dir))
    rows = compute_features(learnable_market).select(REQUIRED_FEATURES).head(50)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{registry.ANOMALY_MODEL}@champion")
    assert np.array_equal(pyfunc.predict(rows.to_pandas()), loaded.score_frame(rows).to_numpy())
