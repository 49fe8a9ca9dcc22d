"""GET /metrics in the Prometheus text format, behind the API token like every route that says
more than "up" (Prometheus sends it with ``authorization: {credentials: ...}``)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from nexus_serving import error_responses
from nexus_serving.deps import ServicesDep, TokenDep

router = APIRouter(tags=["metrics"], dependencies=[TokenDep], responses=error_responses.AUTH)


@router.get("/metrics", response_class=Response)
def metrics(services: ServicesDep) -> Response:
    """Every worker's metrics when several share the service (multiprocess mode), else this one's."""
    return Response(services.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
