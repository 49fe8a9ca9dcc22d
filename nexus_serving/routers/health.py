"""Liveness and readiness: no token, no model work."""

from __future__ import annotations

from fastapi import APIRouter, status

from nexus_serving.deps import ServicesDep
from nexus_serving.responses import OrjsonResponse
from nexus_serving.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
async def health() -> Health:
    """The process is up; says nothing about models (that is /ready). On the loop: probes never wait for a thread."""
    return Health()


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}})
async def ready(services: ServicesDep) -> Readiness | OrjsonResponse:
    """200 once champions are loaded (from the registry or the local cache), else 503 with why."""
    bundle = services.store.current
    if bundle is None:
        body = Readiness(status="unavailable", reason=services.store.reason)
        return OrjsonResponse(body.model_dump(mode="json"), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    return Readiness(status="ready", source=bundle.source, model_versions=dict(bundle.champions.versions))
