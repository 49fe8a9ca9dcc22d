"""What the Dagster tests do with a Lona stand-in: drive its /_sim controls, call it with quick retries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from nexus_assets.resources.lona import LonaGateway
from nexus_assets.sim.process import LonaStandIn


@contextmanager
def sim_controls(stand_in: LonaStandIn) -> Iterator[httpx.Client]:
    """The stand-in's /_sim controls; faults are disarmed again on the way out."""
    with httpx.Client(base_url=stand_in.root_url, timeout=10.0) as control:
        yield control
        control.delete("/_sim/faults").raise_for_status()


def quick_gateway(stand_in: LonaStandIn) -> LonaGateway:
    """A gateway to the stand-in that gives up after two quick attempts, so fault tests stay short."""
    return LonaGateway(
        base_url=stand_in.base_url,
        token=stand_in.token,
        user_id=stand_in.user_id,
        max_attempts=2,
        backoff_base_s=0.01,
        timeout_s=5.0,
    )
