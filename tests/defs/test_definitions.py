"""The code location loads, names its assets as the design says, and validates from the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from nexus_assets.definitions import defs

ROOT = Path(__file__).resolve().parents[2]
FOUNDATION_ASSETS = {"market_bars", "lona_strategies", "lona_signals", "features"}
MODEL_ASSETS = {"price_predictor", "volatility_model", "anomaly_detector"}


def test_code_location_loads_every_asset_check_and_job():
    loaded = defs()
    graph = loaded.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys >= FOUNDATION_ASSETS | MODEL_ASSETS
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert {
        ("market_bars", "ohlc_consistent"),
        ("market_bars", "timestamps_unique_and_ordered"),
        ("market_bars", "no_forbidden_nulls"),
        ("market_bars", "bars_fresh"),
        ("lona_signals", "signals_well_formed"),
        ("features", "features_finite"),
        *((model, "champion_gate") for model in MODEL_ASSETS),
    } <= checks
    assert loaded.resolve_job_def("nexus_main_job") is not None


def test_assets_are_grouped_by_stage_and_documented():
    graph = defs().resolve_asset_graph()
    groups = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description and len(node.description) > 40, key
        assert node.owners, key
        assert node.kinds, key
        groups[key.to_user_string()] = node.group_name
    assert {k: groups[k] for k in (*FOUNDATION_ASSETS, *MODEL_ASSETS)} == {
        "market_bars": "market",
        "lona_strategies": "lona",
        "lona_signals": "lona",
        "features": "features",
        "price_predictor": "models",
        "volatility_model": "models",
        "anomaly_detector": "models",
    }


def test_bad_market_source_setting_is_named(monkeypatch):
    monkeypatch.setenv("NEXUS_MARKET_SOURCE", "bloomberg")
    with pytest.raises(Exception) as caught:  # noqa: PT011 - Dagster wraps loader errors
        defs()
    assert "NEXUS_MARKET_SOURCE: expected simulator, file or lona" in "".join(map(str, _chain(caught.value)))


def _chain(error: BaseException) -> list[BaseException]:
    chain = []
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


def test_dagster_cli_validates_the_workspace():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert dg.__version__
