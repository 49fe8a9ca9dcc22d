"""Liveness and readiness: no token, no model work.

Probes carry no token, and the ingress is public: without an accepted token both answer only
their status; why models failed to load, and which versions are served, go to token holders.
"""

from __future__ import annotations

from fastapi import APIRouter, status

from nexus_serving.deps import ServicesDep, TokenHeldDep
from nexus_serving.responses import OrjsonResponse
from nexus_serving.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
async def health() -> Health:
    """The process is up; says nothing about models (that is /ready). On the loop: probes never wait for a thread."""
    return Health()


@router.get(
    "/ready",
    response_model=Readiness,
    response_model_exclude_defaults=True,
    responses={503: {"model": Readiness}},
)
async def ready(services: ServicesDep, detailed: TokenHeldDep) -> Readiness | OrjsonResponse:
    """200 once champions are loaded (from the registry or the local cache), else 503; with an
    accepted token also the source and versions, or why nothing is loaded."""
    bundle = services.store.current
    if bundle is None:
        body = Readiness(status="unavailable", reason=services.store.reason if detailed else None)
        return OrjsonResponse(
            body.model_dump(mode="json", exclude_defaults=True),
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    if not detailed:
        return Readiness(status="ready")
    return Readiness(status="ready", source=bundle.source, model_versions=dict(bundle.champions.versions))
