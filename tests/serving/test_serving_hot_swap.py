"""Hot swap: moving a champion alias changes the served models under load, with no failed request."""

from __future__ import annotations

import itertools
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient
from serving_support import AUTH, decision_body, serve, settings_for

from nexus_assets.ml import registry

PREDICTOR = registry.PREDICTOR_MODEL


def copy_registry(trained_registry: str, folder: Path) -> str:
    """A private copy of the session registry's database (artifacts are shared, read only)."""
    folder.mkdir(parents=True, exist_ok=True)
    source = Path(trained_registry.removeprefix("sqlite:///"))
    shutil.copy(source, folder / "mlflow.db")
    return f"sqlite:///{folder / 'mlflow.db'}"


def promote_a_new_predictor_version(uri: str) -> str:
    """Register the champion's artifact again as a new version and move the alias to it."""
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    current = client.get_model_version_by_alias(PREDICTOR, registry.CHAMPION_ALIAS)
    new = client.create_model_version(PREDICTOR, source=current.source, run_id=current.run_id)
    client.set_registered_model_alias(PREDICTOR, registry.CHAMPION_ALIAS, str(new.version))
    return str(new.version)


@pytest.mark.slow
def test_alias_move_swaps_models_under_load_without_a_failed_request(trained_registry, market, tmp_path):
    uri = copy_registry(trained_registry, tmp_path / "registry")
    bodies = [decision_body(market, request_id=f"swap-{i}", symbol=f"S{i % 12}") for i in range(12)]
    counter = itertools.count()
    stop = threading.Event()
    outcomes: list[tuple[int, dict[str, str] | None]] = []
    lock = threading.Lock()

    with serve(settings_for(uri, tmp_path / "cache", model_poll_seconds=0.2)) as client:
        old_versions = client.get("/ready", headers=AUTH).json()["model_versions"]
        base_url = str(client.base_url)

        def hammer() -> None:
            with httpx.Client(base_url=base_url, timeout=30) as own:
                while not stop.is_set():
                    n = next(counter)
                    body = {**bodies[n % len(bodies)], "request_id": f"swap-{n}"}
                    response = own.post("/v1/decisions", json=body, headers=AUTH)
                    versions = response.json().get("model_versions") if response.status_code == 200 else None
                    with lock:
                        outcomes.append((response.status_code, versions))

        with ThreadPoolExecutor(max_workers=8) as pool:
            workers = [pool.submit(hammer) for _ in range(8)]
            while len(outcomes) < 16:
                time.sleep(0.05)
            new_version = promote_a_new_predictor_version(uri)
            new_versions = {**old_versions, PREDICTOR: new_version}
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with lock:
                    after_swap = sum(1 for _, v in outcomes if v == new_versions)
                if after_swap >= 16:
                    break
                time.sleep(0.05)
            stop.set()
            for worker in workers:
                worker.result()

        statuses = {status for status, _ in outcomes}
        assert statuses == {200}, f"non-2xx during the swap: {statuses}"
        seen = [v for _, v in outcomes]
        assert all(v in (old_versions, new_versions) for v in seen), "a response mixed model versions"
        assert old_versions in seen and seen.count(new_versions) >= 16
        assert client.get("/ready", headers=AUTH).json()["model_versions"] == new_versions
        models = client.get("/v1/models", headers=AUTH).json()["models"]
        assert {m["name"]: m["version"] for m in models}[PREDICTOR] == new_version
        metrics = client.get("/metrics", headers=AUTH).text
        assert 'nexus_model_reloads_total{outcome="swapped"} 1.0' in metrics
        assert (
            f'nexus_model_version_info{{model="{PREDICTOR}",source="registry",version="{new_version}"}} 1.0'
            in (metrics)
        )


def test_a_service_started_on_the_cache_moves_to_the_registry_when_it_returns(
    client, trained_registry, cache_dir, tmp_path
):
    assert (
        client.get("/ready", headers=AUTH).json()["source"] == "registry"
    )  # the session app filled the cache
    later = tmp_path / "not-yet"
    uri = f"sqlite:///{later / 'mlflow.db'}"
    with serve(settings_for(uri, cache_dir, model_poll_seconds=0.2)) as cached:
        assert cached.get("/ready", headers=AUTH).json()["source"] == "cache"
        copy_registry(trained_registry, later)
        deadline = time.monotonic() + 30
        while cached.get("/ready", headers=AUTH).json()["source"] != "registry":
            assert time.monotonic() < deadline, "the watcher never reloaded from the registry"
            time.sleep(0.1)
        assert (
            cached.get("/ready", headers=AUTH).json()["model_versions"]
            == client.get("/ready", headers=AUTH).json()["model_versions"]
        )


def test_polling_another_registry_leaves_a_run_in_progress_on_its_own_store(trained_registry, tmp_path):
    """The watcher polls and downloads through its own client while the process logs a run
    elsewhere; a flipped process-wide tracking URI sent that run's next write to the wrong
    store ("Run ... not found")."""
    import mlflow

    from nexus_serving.model_store import load_from_registry, registry_client
    from nexus_serving.model_watcher import champion_versions

    uri = copy_registry(trained_registry, tmp_path / "registry")
    client = registry.configure()
    with mlflow.start_run(experiment_id=registry.ensure_experiment(client)) as run:
        assert champion_versions(uri) is not None
        bundle = load_from_registry(registry_client(uri), tmp_path / "cache")
        assert bundle.champions.versions[PREDICTOR] == champion_versions(uri)[PREDICTOR]
        mlflow.log_metric("still_here", 1.0)
    assert client.get_run(run.info.run_id).data.metrics == {"still_here": 1.0}
    assert mlflow.get_tracking_uri() == registry.tracking_uri()
