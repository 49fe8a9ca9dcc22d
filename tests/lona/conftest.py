"""One Lona stand-in process for the client tests, plus a handle on its test controls."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from nexus_assets.lona import LonaClient
from nexus_assets.sim.process import LonaStandIn, running_lona_stand_in

N_STRATEGIES = 130
MAX_ATTEMPTS = 3


class SimControl:
    """The stand-in's ``/_sim`` endpoints: arm faults, count requests, advance time."""

    def __init__(self, stand_in: LonaStandIn) -> None:
        self.stand_in = stand_in
        self._http = httpx.Client(base_url=stand_in.root_url, timeout=10.0)

    def close(self) -> None:
        self._http.close()

    def reset(self) -> None:
        """Disarm faults and zero the counters once late answers (delay faults) are out."""
        self._http.delete("/_sim/faults").raise_for_status()
        self._http.delete("/_sim/protocol").raise_for_status()
        deadline = time.monotonic() + 10.0
        while self.stats()["in_flight"] > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        self._http.delete("/_sim/stats").raise_for_status()

    def arm(self, **fault: Any) -> None:
        self._http.post("/_sim/faults", json=fault).raise_for_status()

    def forms(self, **settings: Any) -> dict[str, Any]:
        """Pick the answer shapes (``nexus_assets.sim.lona_wire_forms``); ``reset`` restores them."""
        return self._http.post("/_sim/protocol", json=settings).raise_for_status().json()["data"]

    def protocol(self) -> dict[str, Any]:
        return self._http.get("/_sim/protocol").raise_for_status().json()["data"]

    def stats(self) -> dict[str, Any]:
        return self._http.get("/_sim/stats").raise_for_status().json()["data"]

    def attempts(self, method: str, path: str) -> int:
        return int(self.stats()["paths"].get(f"{method} /api/v1{path}", 0))

    def state(self) -> dict[str, Any]:
        return self._http.get("/_sim/state").raise_for_status().json()["data"]

    def tick(self, n: int = 1) -> dict[str, Any]:
        return self._http.post("/_sim/tick", params={"n": n}).raise_for_status().json()["data"]


@pytest.fixture(scope="session")
def lona_stand_in() -> Iterator[LonaStandIn]:
    with running_lona_stand_in(n_strategies=N_STRATEGIES, seed=7) as stand_in:
        yield stand_in


@pytest.fixture
def sim(lona_stand_in: LonaStandIn) -> Iterator[SimControl]:
    control = SimControl(lona_stand_in)
    control.reset()
    yield control
    control.reset()
    control.close()


@pytest.fixture
def n_strategies() -> int:
    return N_STRATEGIES


@pytest.fixture
def max_attempts() -> int:
    return MAX_ATTEMPTS


@pytest.fixture
def client(lona_stand_in: LonaStandIn) -> Iterator[LonaClient]:
    with LonaClient(
        lona_stand_in.base_url,
        lona_stand_in.token,
        lona_stand_in.user_id,
        timeout_s=5.0,
        max_attempts=MAX_ATTEMPTS,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
    ) as lona:
        yield lona
