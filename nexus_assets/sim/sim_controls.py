"""What every stand-in shares: the ``/_sim`` fault and request-count routes, and the ticker.

Each stand-in keeps its own response envelope (``respond``) and says under which key, if any,
the request counts travel (``stats_key``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from nexus_assets.sim.lona_faults import FaultBoard, FaultSpec, RequestStats

Respond = Callable[[Any, int], Response]


def fault_and_stats_routes(
    faults: FaultBoard, stats: RequestStats, respond: Respond, stats_key: str | None = None
) -> APIRouter:
    routes = APIRouter(prefix="/_sim")

    def counts() -> Any:
        snapshot = stats.snapshot()
        return {stats_key: snapshot} if stats_key else snapshot

    @routes.post("/faults")
    def arm(fault: FaultSpec) -> Response:
        faults.arm(fault)
        return respond({"armed": faults.pending()}, 201)

    @routes.get("/faults")
    def armed() -> Response:
        return respond({"armed": faults.pending()}, 200)

    @routes.delete("/faults")
    def disarm() -> Response:
        faults.clear()
        return respond({"armed": []}, 200)

    @routes.get("/stats")
    def read_stats() -> Response:
        return respond(counts(), 200)

    @routes.delete("/stats")
    def reset_stats() -> Response:
        stats.reset()
        return respond(counts(), 200)

    return routes


class Ticker:
    """Calls ``tick`` every ``interval_s`` seconds on a daemon thread; a failing tick is logged, not fatal."""

    def __init__(self, tick: Callable[[], object], interval_s: float, name: str) -> None:
        self._tick = tick
        self._interval_s = interval_s
        self._name = name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"{name}-ticker", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self._tick()
            except Exception:
                logging.getLogger(__name__).exception("%s stand-in tick failed", self._name)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
