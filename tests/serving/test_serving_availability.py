"""Without champions the app still starts; with the registry down it serves the cached ones."""

from __future__ import annotations

import os
import time

import pytest
from serving_support import AUTH, decision_body, free_port, serve, settings_for

from nexus_serving.model_store import (
    ABANDONED_S,
    MANIFEST,
    load_from_cache,
    load_from_registry,
    registry_client,
)


def test_no_champion_is_503_but_healthy(tmp_path, market):
    settings = settings_for(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path / "cache")
    with serve(settings) as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/ready", headers=AUTH)
        assert ready.status_code == 503
        assert "no champion" in ready.json()["reason"]
        response = client.post("/v1/decisions", json=decision_body(market, request_id="none"), headers=AUTH)
        assert response.status_code == 503
        assert "models not loaded" in response.json()["detail"]
        assert client.get("/v1/models", headers=AUTH).status_code == 503


def test_registry_down_serves_the_cache(client, cache_dir, market, monkeypatch: pytest.MonkeyPatch):
    assert (
        client.get("/ready", headers=AUTH).json()["source"] == "registry"
    )  # the session app filled the cache
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    unreachable = f"http://127.0.0.1:{free_port()}"
    with serve(settings_for(unreachable, cache_dir)) as cached:
        ready = cached.get("/ready", headers=AUTH).json()
        assert ready["status"] == "ready"
        assert ready["source"] == "cache"
        models = cached.get("/v1/models", headers=AUTH).json()
        assert {m["source"] for m in models["models"]} == {"cache"}
        body = decision_body(market, request_id="from-cache", symbol="S11")
        from_cache = cached.post("/v1/decisions", json=body, headers=AUTH).json()
    from_registry = client.post("/v1/decisions", json=body, headers=AUTH).json()
    for key in ("action", "predicted_return", "volatility_forecast", "anomaly_score", "model_versions"):
        assert from_cache[key] == from_registry[key]


def test_a_registry_load_keeps_another_workers_download_and_drops_old_bundles(trained_registry, tmp_path):
    """Workers load at the same time: one finishing first must not delete the other's folder mid-download."""
    cache = tmp_path / "cache"
    bundles = cache / "bundles"
    in_progress, finished, abandoned = (
        bundles / "other-worker",
        bundles / "older",
        bundles / "failed-long-ago",
    )
    for folder in (in_progress, finished, abandoned):
        folder.mkdir(parents=True)
    (finished / MANIFEST).write_text("{}")
    long_ago = time.time() - ABANDONED_S - 60
    os.utime(abandoned, (long_ago, long_ago))

    bundle = load_from_registry(registry_client(trained_registry), cache)

    assert bundle.source == "registry"
    assert in_progress.is_dir(), "a download in progress is left alone"
    assert not finished.exists() and not abandoned.exists()
    assert load_from_cache(cache).champions.versions == bundle.champions.versions
