"""Training on the simulated market registers all three models and crowns each a champion."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest
from mlflow import MlflowClient

from nexus_assets.defs.features.assets import features
from nexus_assets.defs.market.assets import market_bars
from nexus_assets.defs.models.anomaly import anomaly_detector
from nexus_assets.defs.models.predictor import price_predictor
from nexus_assets.defs.models.volatility import volatility_model
from nexus_assets.lona.signals import SIGNAL_SCHEMA
from nexus_assets.ml import registry
from nexus_assets.resources.market_data import SimulatedMarketData


@dg.asset(name="lona_signals", group_name="lona")
def no_signals() -> pl.DataFrame:
    return pl.DataFrame(schema=SIGNAL_SCHEMA)


@pytest.mark.slow
def test_models_train_register_and_become_champions(io_manager):
    resources = {"io_manager": io_manager, "market_data": SimulatedMarketData(end_date="2026-11-20")}
    assets = [market_bars, no_signals, features, price_predictor, volatility_model, anomaly_detector]
    with dg.instance_for_test() as instance:
        result = dg.materialize(assets, resources=resources, instance=instance)
        assert result.success
        gates = {e.asset_key.to_user_string(): e.passed for e in result.get_asset_check_evaluations()}
        assert gates == {"price_predictor": True, "volatility_model": True, "anomaly_detector": True}
        event = instance.get_latest_materialization_event(dg.AssetKey("price_predictor"))
        metadata = event.asset_materialization.metadata
        assert metadata["promoted"].value is True
        assert metadata["test_ic"].value > metadata["momentum_ic"].value
        assert metadata["onnx_parity_max_abs_diff"].value <= 1e-5

    client = MlflowClient(registry.tracking_uri())
    for name in (registry.PREDICTOR_MODEL, registry.VOLATILITY_MODEL, registry.ANOMALY_MODEL):
        champion = client.get_model_version_by_alias(name, registry.CHAMPION_ALIAS)
        assert str(champion.version) == "1"
        assert champion.tags["gate.promoted"] == "True"
        run = client.get_run(champion.run_id)
        assert run.data.tags["dagster.run_id"] == result.run_id
        assert run.data.params
