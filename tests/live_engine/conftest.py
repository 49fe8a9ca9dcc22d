"""One Live Engine stand-in process for these tests, plus a handle on its test controls."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from nexus_assets.live_engine import Deployment, LiveEngineClient
from nexus_assets.sim.process import LiveEngineStandIn, running_live_engine_stand_in

MAX_ATTEMPTS = 3
CAPITAL = 1_000_000.0


class SimControl:
    """The stand-in's ``/_sim`` endpoints: arm faults, count requests, advance bars, list orders."""

    def __init__(self, stand_in: LiveEngineStandIn) -> None:
        self.stand_in = stand_in
        self._http = httpx.Client(base_url=stand_in.base_url, timeout=10.0)

    def close(self) -> None:
        self._http.close()

    def settle(self) -> None:
        """Wait until late answers (delay faults) are out, so their effects are visible."""
        deadline = time.monotonic() + 10.0
        while self.stats()["in_flight"] > 0 and time.monotonic() < deadline:
            time.sleep(0.05)

    def reset(self) -> None:
        self._http.delete("/_sim/faults").raise_for_status()
        self.settle()
        self._http.delete("/_sim/stats").raise_for_status()

    def empty(self) -> None:
        """Back to the engine's empty store: no orders or deployments, portfolios all cash."""
        self._http.post("/_sim/reset").raise_for_status()

    def restart(self) -> int:
        """The engine forgets its orders, as a restart does."""
        return self._http.post("/_sim/restart").raise_for_status().json()["forgotten"]

    def arm(self, **fault: Any) -> None:
        self._http.post("/_sim/faults", json=fault).raise_for_status()

    def stats(self) -> dict[str, Any]:
        return self._http.get("/_sim/stats").raise_for_status().json()["stats"]

    def attempts(self, method: str, path: str) -> int:
        return int(self.stats()["paths"].get(f"{method} /api/internal{path}", 0))

    def state(self) -> dict[str, Any]:
        return self._http.get("/_sim/state").raise_for_status().json()["state"]

    def tick(self, n: int = 1) -> dict[str, Any]:
        return self._http.post("/_sim/tick", params={"n": n}).raise_for_status().json()

    def orders(self, deployment_id: str | None = None) -> list[dict[str, Any]]:
        """Every order the engine holds, with its fill price."""
        orders = self._http.get("/_sim/orders").raise_for_status().json()["orders"]
        return [o for o in orders if deployment_id is None or o["deploymentId"] == deployment_id]


@pytest.fixture(scope="session")
def live_engine() -> Iterator[LiveEngineStandIn]:
    with running_live_engine_stand_in(api_key="suite-key", seed=7) as stand_in:
        yield stand_in


@pytest.fixture
def sim(live_engine: LiveEngineStandIn) -> Iterator[SimControl]:
    control = SimControl(live_engine)
    control.reset()
    control.empty()
    yield control
    control.reset()
    control.close()


@pytest.fixture
def max_attempts() -> int:
    return MAX_ATTEMPTS


@pytest.fixture
def client(live_engine: LiveEngineStandIn) -> Iterator[LiveEngineClient]:
    with LiveEngineClient(
        live_engine.base_url,
        live_engine.api_key,
        timeout_s=5.0,
        max_attempts=MAX_ATTEMPTS,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
    ) as engine:
        yield engine


@pytest.fixture
def deployment(client: LiveEngineClient, sim: SimControl) -> Deployment:
    """A paper deployment in an empty store: its fills are the only ones in the paper portfolio."""
    created = client.create_deployment("strategy-under-test", mode="paper", capital=CAPITAL)
    sim.reset()
    return created
