"""The decision service: ``create_app`` builds it, the lifespan loads the champions once."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from nexus_assets.ml.kernels import warm_up
from nexus_assets.ml.portfolio.policy import PolicyConfig
from nexus_assets.risk_store import RiskStore
from nexus_serving import errors
from nexus_serving.allocation_reader import latest_allocation
from nexus_serving.audit import open_audit_log
from nexus_serving.audit.sinks import open_sink
from nexus_serving.body_limit import BodyLimitMiddleware
from nexus_serving.console.stored_tables import stored_tables
from nexus_serving.decisions.idempotency import ResponseStore
from nexus_serving.decisions.micro_batch import MicroBatcher
from nexus_serving.decisions.pipeline import MICRO_BATCH_MAX, DecisionPipeline
from nexus_serving.decisions.policy_step import EngineConfig
from nexus_serving.decisions.shadow import ShadowScorer
from nexus_serving.loop_watchdog import LoopWatchdog, end_stalled_worker
from nexus_serving.metrics import MetricsMiddleware, ServiceMetrics, forget_dead_workers
from nexus_serving.model_store import ModelBundle, ModelStore, load_into
from nexus_serving.model_watcher import ChampionWatcher
from nexus_serving.news_context import NewsReader
from nexus_serving.openapi_bodies import document_bodies
from nexus_serving.responses import OrjsonResponse
from nexus_serving.risk.held import SharedRisk
from nexus_serving.risk.watch import RiskWatch
from nexus_serving.routers import allocations, api_docs, console, decisions, health, metrics, models, risk
from nexus_serving.schemas import BatchRequest, DecisionRequest
from nexus_serving.services import Services
from nexus_serving.settings import Settings, get_settings

logger = logging.getLogger(__name__)
GC_THRESHOLDS = (50_000, 20, 100)
"""Collector thresholds while serving (CPython's defaults: 700, 10, 10)."""
BATCH_PATH = "/v1/decisions/batch"


def _champion_watcher(services: Services) -> ChampionWatcher | None:
    settings = services.settings
    if settings.model_poll_seconds <= 0:
        return None

    def swapped(bundle: ModelBundle) -> None:
        services.metrics.serving(dict(bundle.champions.versions), bundle.source)
        services.metrics.model_reloads.labels("swapped").inc()

    return ChampionWatcher(
        services.store,
        settings.tracking_uri,
        settings.cache_dir,
        settings.model_poll_seconds,
        on_swap=swapped,
        on_error=lambda _: services.metrics.model_reloads.labels("failed").inc(),
    )


def _loop_watchdog(services: Services) -> LoopWatchdog | None:
    if services.settings.loop_stall_s <= 0:
        return None
    audit = services.audit
    watchdog = LoopWatchdog(
        asyncio.get_running_loop(),
        services.settings.loop_stall_s,
        end_stalled_worker(audit.close if audit is not None else lambda: None),
    )
    watchdog.start()
    return watchdog


def _shadow_scorer(settings: Settings, policy: PolicyConfig, metrics: ServiceMetrics) -> ShadowScorer | None:
    """Challenger scores go to the audit store beside the decisions: none without an audit log."""
    if not settings.audit_enabled:
        return None
    url = settings.audit_database_url.get_secret_value() if settings.audit_database_url else None
    return ShadowScorer(
        lambda: open_sink(url, settings.audit_schema, checkpoints=False),
        policy,
        metrics,
        capacity=settings.shadow_queue_size,
    )


def build_services(settings: Settings) -> Services:
    """Every long-lived object of one app instance; the micro-batcher feeds the pipeline."""
    metrics = ServiceMetrics()
    audit = open_audit_log(settings, metrics)
    policy = PolicyConfig(risk=settings.risk_limits, stale_model_action=settings.stale_model_action)
    store_url = settings.audit_database_url.get_secret_value() if settings.audit_database_url else None
    risk_watch = RiskWatch(
        RiskStore(store_url, settings.audit_schema),
        SharedRisk(),
        held=settings.kill_switch,
        poll_s=settings.risk_poll_seconds,
    )
    pipeline = DecisionPipeline(
        engine=EngineConfig(
            policy=policy,
            max_model_age_days=settings.max_model_age_days,
            kill_switch=settings.kill_switch,
            max_bar_age=settings.max_bar_age,
        ),
        responses=ResponseStore(settings.idempotency_capacity),
        news=NewsReader(settings.data_dir, settings.news_poll_seconds),
        metrics=metrics,
        risk=risk_watch.risk,
        audit=audit,
        risk_watch=risk_watch,
        shadow=_shadow_scorer(settings, policy, metrics),
    )
    return Services(
        settings=settings,
        store=ModelStore(),
        metrics=metrics,
        pipeline=pipeline,
        decisions=MicroBatcher(pipeline.decide, MICRO_BATCH_MAX),
        allocations=latest_allocation(settings.data_dir),
        risk_watch=risk_watch,
        tables=stored_tables(settings.data_dir),
        audit=audit,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """A ready-to-serve app; uvicorn calls it as a factory (``--factory``)."""
    settings = settings or get_settings()
    services = build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        forget_dead_workers()  # a worker that replaces a dead one
        if services.audit is not None:
            services.audit.start()
        if services.pipeline.shadow is not None:
            services.pipeline.shadow.start()
        await run_in_threadpool(services.risk_watch.start)
        # A missing registry or champion must not stop the process: /health stays up and
        # /ready reports why there is nothing to serve.
        await run_in_threadpool(warm_up)  # compile or load the numba kernels before /ready
        await run_in_threadpool(load_into, services.store, settings.tracking_uri, settings.cache_dir)
        if services.store.current is not None:
            bundle = services.store.current
            services.metrics.serving(dict(bundle.champions.versions), bundle.source)
        # Libraries and models are loaded for good: leave their objects out of the collector's
        # full passes, which would otherwise stall requests for tens of milliseconds. A request
        # allocates thousands of short-lived objects and almost no cycles: collecting the young
        # generation every 50,000 allocations instead of 700 saves about a tenth of its CPU.
        await run_in_threadpool(services.pipeline.news.start)
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        watcher = _champion_watcher(services)
        if watcher is not None:
            watcher.start()
        watchdog = _loop_watchdog(services)
        try:
            yield
        finally:
            if watchdog is not None:
                watchdog.stop()
            if watcher is not None:
                watcher.stop()
            services.pipeline.news.stop()
            await run_in_threadpool(services.risk_watch.stop)
            if services.audit is not None:  # after the server has drained its requests: nothing is lost
                await run_in_threadpool(services.audit.close)
            if services.pipeline.shadow is not None:  # after the audit log: its last decisions queue jobs
                await run_in_threadpool(services.pipeline.shadow.close)

    public_docs = settings.api_docs_public
    app = FastAPI(
        title="Trade Nexus decision service",
        version="1",
        lifespan=lifespan,
        openapi_url="/openapi.json" if public_docs else None,
        docs_url="/docs" if public_docs else None,
        redoc_url="/redoc" if public_docs else None,
        default_response_class=OrjsonResponse,
        # The service exports Prometheus metrics (/metrics); FastAPI's own OpenTelemetry hooks
        # would otherwise look the global providers up on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.services = services
    errors.install(app)
    app.include_router(health.router)
    app.include_router(decisions.router)
    app.include_router(models.router)
    app.include_router(allocations.router)
    app.include_router(risk.router)
    app.include_router(metrics.router)
    if not public_docs:
        app.include_router(api_docs.router)
    console.install(app)  # /console: outside the v1 API and its schema
    document_bodies(app, DecisionRequest, BatchRequest)
    app.add_middleware(
        BodyLimitMiddleware,
        limit_for=lambda path: (
            settings.max_batch_body_bytes if path.startswith(BATCH_PATH) else settings.max_body_bytes
        ),
        timeout_s=settings.body_timeout_s,
    )
    app.add_middleware(MetricsMiddleware, metrics=services.metrics)
    return app
