"""A Dagster instance on PostgreSQL built from the production config, and a Lona stand-in
whose clock the tests advance.

Each PostgreSQL test gets its own database, created here and dropped afterwards. The
instance is loaded from ``infra/dagster/dagster.yaml`` copied into the test's DAGSTER_HOME,
with the DAGSTER_PG_* variables pointing at that database: the file production uses is the
file under test.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import httpx
import psycopg
import pytest
from lona_stand_in_helpers import quick_gateway, sim_controls
from psycopg import sql

from nexus_assets.resources.lona import LonaGateway
from nexus_assets.sim.process import LonaStandIn, running_lona_stand_in

ROOT = Path(__file__).resolve().parents[3]
PRODUCTION_CONFIG = ROOT / "infra" / "dagster" / "dagster.yaml"
PG = {
    "host": os.environ.get("NEXUS_TEST_PG_HOST", "127.0.0.1"),
    "port": os.environ.get("NEXUS_TEST_PG_PORT", "5432"),
    "user": os.environ.get("NEXUS_TEST_PG_USER", "postgres"),
    "password": os.environ.get("NEXUS_TEST_PG_PASSWORD", ""),
    "dbname": os.environ.get("NEXUS_TEST_PG_DB", "test"),
}


def _admin() -> psycopg.Connection:
    return psycopg.connect(**PG, autocommit=True, connect_timeout=5)


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh, empty database for one test."""
    name = f"nexus_test_{uuid.uuid4().hex[:12]}"
    try:
        with _admin() as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG['host']}:{PG['port']} is needed for this test: {exc}")
    try:
        yield name
    finally:
        with _admin() as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def postgres_env(postgres_database: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "DAGSTER_PG_HOST": PG["host"],
        "DAGSTER_PG_PORT": PG["port"],
        "DAGSTER_PG_DB": postgres_database,
        "DAGSTER_PG_USERNAME": PG["user"],
        "DAGSTER_PG_PASSWORD": PG["password"],
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def pg_instance(postgres_env: dict[str, str]) -> Iterator[dg.DagsterInstance]:
    """The production instance config, installed in this test's DAGSTER_HOME."""
    home = Path(os.environ["DAGSTER_HOME"])
    shutil.copyfile(PRODUCTION_CONFIG, home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


@pytest.fixture(scope="module")
def signal_lona() -> Iterator[LonaStandIn]:
    """A stand-in of its own: these tests advance its clock, which other modules must not see."""
    with running_lona_stand_in(
        symbols=("AAPL", "MSFT"), n_strategies=4, initial_bars=300, seed=11
    ) as stand_in:
        yield stand_in


@pytest.fixture
def sim(signal_lona: LonaStandIn) -> Iterator[httpx.Client]:
    """The stand-in's /_sim controls; faults are disarmed after each test."""
    with sim_controls(signal_lona) as control:
        yield control


@pytest.fixture
def signal_gateway(signal_lona: LonaStandIn) -> LonaGateway:
    return quick_gateway(signal_lona)


@pytest.fixture
def lona_env(signal_lona: LonaStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the code location's resources read, pointing at this module's stand-in."""
    monkeypatch.setenv("LONA_GATEWAY_URL", signal_lona.base_url)
    monkeypatch.setenv("LONA_AGENT_TOKEN", signal_lona.token)
    monkeypatch.setenv("LONA_AGENT_ID", signal_lona.user_id)
