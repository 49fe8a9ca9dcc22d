"""Instance storage: SQLite by default, PostgreSQL from the production config and the environment."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
EMBEDDED_CONFIG = ROOT / "dagster.yaml"
PRODUCTION_CONFIG = ROOT / "infra" / "dagster" / "dagster.yaml"


@dg.asset
def storage_probe() -> int:
    return 1


@pytest.mark.postgres
def test_the_production_config_keeps_everything_in_postgres(pg_instance, postgres_env):
    for storage in (pg_instance.run_storage, pg_instance.event_log_storage, pg_instance.schedule_storage):
        assert type(storage).__module__.startswith("dagster_postgres"), type(storage)
    assert pg_instance.run_retries_enabled
    result = dg.materialize([storage_probe], instance=pg_instance)
    assert result.success

    # Another process with the same config (webserver, daemon) sees the same runs and events.
    with dg.DagsterInstance.from_config(os.environ["DAGSTER_HOME"]) as other:
        assert other.get_run_by_id(result.run_id).is_success
        assert other.get_latest_materialization_event(dg.AssetKey("storage_probe")) is not None
    assert not list(Path(os.environ["DAGSTER_HOME"]).rglob("*.db")), "nothing may fall back to SQLite"


def test_the_embedded_config_stays_on_sqlite_under_dagster_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(EMBEDDED_CONFIG, home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert "sqlite" in type(instance.run_storage).__module__
        assert dg.materialize([storage_probe], instance=instance).success
    assert list(home.rglob("*.db"))


def test_production_differs_from_the_embedded_config_only_in_storage():
    production = yaml.safe_load(PRODUCTION_CONFIG.read_text())
    embedded = yaml.safe_load(EMBEDDED_CONFIG.read_text())
    assert "storage" not in embedded
    assert production.pop("storage")["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    assert production == embedded


def test_a_missing_database_setting_is_named(tmp_path, monkeypatch):
    for name in (
        "DAGSTER_PG_HOST",
        "DAGSTER_PG_PORT",
        "DAGSTER_PG_DB",
        "DAGSTER_PG_USERNAME",
        "DAGSTER_PG_PASSWORD",
    ):
        monkeypatch.delenv(name, raising=False)
    shutil.copyfile(PRODUCTION_CONFIG, tmp_path / "dagster.yaml")
    with pytest.raises(Exception, match="DAGSTER_PG_"):
        dg.DagsterInstance.from_config(str(tmp_path))
