"""A Lona stand-in process and test resources for materializing assets in process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lona_stand_in_helpers import quick_gateway, sim_controls

from nexus_assets.resources.lona import LonaGateway
from nexus_assets.resources.parquet_io import ParquetIOManager
from nexus_assets.sim.process import LonaStandIn, running_lona_stand_in

SYMBOLS = ("AAPL", "MSFT", "SPY")


@pytest.fixture(scope="session")
def symbols() -> tuple[str, ...]:
    return SYMBOLS


@pytest.fixture(scope="session")
def lona_process() -> Iterator[LonaStandIn]:
    with running_lona_stand_in(symbols=SYMBOLS, n_strategies=5, initial_bars=320, seed=5) as stand_in:
        yield stand_in


@pytest.fixture
def lona_faults(lona_process: LonaStandIn) -> Iterator[httpx.Client]:
    """The stand-in's fault controls, disarmed again after the test."""
    with sim_controls(lona_process) as control:
        yield control


@pytest.fixture
def lona_gateway(lona_process: LonaStandIn) -> LonaGateway:
    return quick_gateway(lona_process)


@pytest.fixture
def io_manager(tmp_path: Path) -> ParquetIOManager:
    return ParquetIOManager(base_dir=str(tmp_path / "data"))
