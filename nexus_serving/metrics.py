"""Prometheus metrics: request counts and latency per route, decisions by action, model versions.

Each app owns its registry, so several apps in one process (tests) never clash, and the route
label is the route's template, never the raw path, so labels cannot explode. Under several
workers (``nexus serve --workers N``) prometheus-client's multiprocess mode is on
(``PROMETHEUS_MULTIPROC_DIR``, set by the supervisor): every worker writes its values to files
there and a scrape of any worker reads them all, so one scrape covers the whole service.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nexus_serving.processes import alive

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass
class ServiceMetrics:
    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))

    def __post_init__(self) -> None:
        self.requests = Counter(
            "nexus_http_requests_total", "HTTP requests by route and status.", ("method", "route", "status"),
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "nexus_http_request_duration_seconds", "Time to answer, by route.", ("route",),
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.decisions = Counter(
            "nexus_decisions_total", "Decisions made, by action.", ("action",), registry=self.registry
        )
        self.model_version = Gauge(
            "nexus_model_version_info", "Served model versions (value 1).", ("model", "version", "source"),
            registry=self.registry, multiprocess_mode="livemax",
        )  # fmt: skip
        self._served: list[tuple[str, str, str]] = []
        self.model_reloads = Counter(
            "nexus_model_reloads_total", "Champion alias polls that swapped models or failed.", ("outcome",),
            registry=self.registry,
        )  # fmt: skip
        self.audit_written = Counter(
            "nexus_audit_written_total", "Decisions stored in the audit log.", registry=self.registry
        )
        self.audit_dropped = Counter(
            "nexus_audit_dropped_total", "Decisions the audit log lost (store and spool both failing at exit).",
            registry=self.registry,
        )  # fmt: skip
        self.audit_rejected = Counter(
            "nexus_audit_rejected_total",
            "Decisions the audit database refused for their content, kept in decision_audit_rejected.",
            registry=self.registry,
        )
        self.audit_queue_depth = Gauge(
            "nexus_audit_queue_depth", "Decisions waiting for the audit log.", registry=self.registry,
            multiprocess_mode="livesum",
        )  # fmt: skip
        self.audit_queue_bytes = Gauge(
            "nexus_audit_queue_bytes", "Bytes of the decisions waiting for the audit log.",
            registry=self.registry, multiprocess_mode="livesum",
        )  # fmt: skip
        self.audit_spooled = Counter(
            "nexus_audit_spooled_total",
            "Decisions written to the local audit spool while the audit store could not take them.",
            registry=self.registry,
        )
        self.audit_refused = Counter(
            "nexus_audit_refused_total",
            "Requests answered 503 because the audit log could take no more (store and spool unavailable).",
            registry=self.registry,
        )

        self.stale_bars = Counter(
            "nexus_stale_bars_total",
            "Requests answered 503 because their newest bar is older than NEXUS_MAX_BAR_AGE.",
            registry=self.registry,
        )

        self.shadow_scored = Counter(
            "nexus_shadow_scored_total",
            "Decisions the challengers scored in shadow, stored in decision_shadow (errors included).",
            registry=self.registry,
        )
        self.shadow_dropped = Counter(
            "nexus_shadow_dropped_total",
            "Decisions not scored in shadow because the shadow queue was full.",
            registry=self.registry,
        )
        self.shadow_failed = Counter(
            "nexus_shadow_failed_total",
            "Shadow scorings that failed: the challengers could not score (score) or the row was not stored (store).",
            ("stage",), registry=self.registry,
        )  # fmt: skip

    def serving(self, versions: dict[str, str], source: str) -> None:
        """Record the bundle now being served (replacing what was recorded before)."""
        for labels in self._served:  # a value written to a worker's file stays unless set again
            self.model_version.labels(*labels).set(0)
        self.model_version.clear()
        self._served = [(model, version, source) for model, version in versions.items()]
        for labels in self._served:
            self.model_version.labels(*labels).set(1)

    def exposition(self) -> bytes:
        """The text a scrape gets: every worker's series in multiprocess mode, this app's otherwise."""
        if multiprocess_dir() is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)


@contextmanager
def multiprocess_metrics(workers: int) -> Iterator[None]:
    """Multiprocess mode for ``workers`` > 1: a fresh ``PROMETHEUS_MULTIPROC_DIR`` set before they
    are spawned (they read it when they import prometheus-client) and removed once they stop.

    A folder the operator configured is emptied of an earlier run's values instead.
    """
    if workers <= 1:
        yield
        return
    configured = multiprocess_dir()
    if configured is not None:
        configured.mkdir(parents=True, exist_ok=True)
        for path in configured.glob("*.db"):
            path.unlink()
        yield
        return
    folder = tempfile.mkdtemp(prefix="nexus-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    try:
        yield
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(folder, ignore_errors=True)


def multiprocess_dir() -> Path | None:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(folder) if folder else None


def forget_dead_workers() -> None:
    """Drop the live gauges of workers no longer running (a replaced worker's queue is not queued).

    Counters and histograms of a dead worker stay: what it counted happened.
    """
    folder = multiprocess_dir()
    if folder is None:
        return
    for path in folder.glob("gauge_live*_*.db"):
        pid = path.stem.rsplit("_", 1)[1]
        if pid.isdigit() and not alive(int(pid)):
            multiprocess.mark_process_dead(int(pid), str(folder))


class MetricsMiddleware:
    """Pure ASGI (no extra task or thread per request): time the call, count its status."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        """Labelled children by (method, route, status): ``labels()`` costs microseconds a call."""

    def _record(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            series = (
                self.metrics.requests.labels(method, route, str(status)),
                self.metrics.latency.labels(route),
            )
            self._series[key] = series
        series[0].inc()
        series[1].observe(seconds)

    @staticmethod
    def _route(scope: Scope) -> str:
        """The matched route's template, which routing leaves in the scope; "unmatched" for 404s."""
        return getattr(scope.get("route"), "path", "unmatched")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            self._record(scope["method"], self._route(scope), status, time.perf_counter() - start)
