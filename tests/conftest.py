"""Test isolation: every test gets its own Dagster home, data folder and MLflow stores."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every piece of local state at a per-test folder, never at the working tree."""
    home = tmp_path / "nexus_home"
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True)
    monkeypatch.setenv("NEXUS_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    monkeypatch.delenv("NEXUS_DATA_DIR", raising=False)
    monkeypatch.delenv("NEXUS_MARKET_SOURCE", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_ARTIFACT_ROOT", str(home / "mlartifacts"))
    for secret in ("XAI_API_KEY", "LANGSMITH_API_KEY", "LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2"):
        monkeypatch.delenv(secret, raising=False)
    return home


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The end-to-end stack first: under ``make test``'s two workers it runs on one while the
    other works through the rest, instead of starting last and running alone."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is None)
