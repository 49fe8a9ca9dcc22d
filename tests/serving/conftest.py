"""Fixtures: champions trained once per session into a temporary MLflow store, and running apps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import polars as pl
import pytest
from pydantic import SecretStr
from serving_support import MARKET, serve, settings_for

from nexus_assets.ml.features import compute_features
from nexus_assets.ml.lifecycle.anomaly import train_and_register_anomaly_detector
from nexus_assets.ml.lifecycle.predictor import train_and_register_predictor
from nexus_assets.ml.lifecycle.volatility import train_and_register_volatility_model
from nexus_assets.ml.predictor.config import LstmConfig
from nexus_assets.sim.market import simulate_market


@pytest.fixture(scope="session")
def market() -> pl.DataFrame:
    return simulate_market(MARKET)


@pytest.fixture(scope="session")
def trained_registry(tmp_path_factory: pytest.TempPathFactory, market: pl.DataFrame) -> str:
    """A registry whose three models each have a champion, trained once per session."""
    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.setenv("MLFLOW_ARTIFACT_ROOT", str(root / "artifacts"))
        patch.setenv("NEXUS_HOME", str(root / "home"))
        quiet = {"log": lambda _: None}
        predictor = train_and_register_predictor(
            compute_features(market),
            workdir=root / "predictor",
            config=LstmConfig(max_epochs=8, patience=3, learning_rate=3e-3),
            folds=2,
            **quiet,
        )
        volatility = train_and_register_volatility_model(market, workdir=root / "volatility", **quiet)
        anomaly = train_and_register_anomaly_detector(market, workdir=root / "anomaly", **quiet)
    assert predictor.verdict.promoted and volatility.verdict.promoted and anomaly.verdict.promoted
    return uri


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model_cache")


@pytest.fixture(scope="session")
def client(
    trained_registry: str, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    """One app serving the trained champions (loaded from the registry) for the whole session."""
    # Set up before any per-test NEXUS_HOME exists, so its audit log needs an explicit place.
    audit = SecretStr(f"sqlite:///{tmp_path_factory.mktemp('audit') / 'audit.db'}")
    with serve(settings_for(trained_registry, cache_dir, audit_database_url=audit)) as running:
        yield running
