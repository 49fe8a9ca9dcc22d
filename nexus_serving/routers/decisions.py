"""POST /v1/decisions and its batch form; the decision itself is ``decision_engine``'s."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
from fastapi import APIRouter

from nexus_serving.decision_engine import InvalidInputError, decide_request, prepare
from nexus_serving.deps import BundleDep, ServicesDep, TokenDep
from nexus_serving.model_store import ModelBundle
from nexus_serving.schemas import BatchRequest, BatchResponse, DecisionRequest, DecisionResponse
from nexus_serving.services import Services

router = APIRouter(prefix="/v1/decisions", tags=["decisions"], dependencies=[TokenDep])


def _decide(
    services: Services, bundle: ModelBundle, request: DecisionRequest, prepared: pl.DataFrame | None = None
) -> DecisionResponse:
    stored = services.responses.get(request.request_id)
    if stored is not None:
        return stored
    response = decide_request(request, bundle, services.latches, services.engine, datetime.now(UTC), prepared)
    services.metrics.decisions.labels(response.action).inc()
    return services.responses.put(response)


@router.post("", response_model=DecisionResponse)
def create_decision(body: DecisionRequest, services: ServicesDep, bundle: BundleDep) -> DecisionResponse:
    """One decision; a repeated request_id returns the stored decision, not a new one."""
    return _decide(services, bundle, body)


@router.post("/batch", response_model=BatchResponse)
def create_decisions(body: BatchRequest, services: ServicesDep, bundle: BundleDep) -> BatchResponse:
    """Many decisions in order; every item is checked before any is decided."""
    limit = services.settings.max_batch
    if len(body.requests) > limit:
        raise InvalidInputError(
            ("body", "requests"), f"at most {limit} requests per batch, got {len(body.requests)}"
        )
    prepared = []
    for index, request in enumerate(body.requests):
        try:
            prepared.append(
                prepare(request, bundle) if services.responses.get(request.request_id) is None else None
            )
        except InvalidInputError as exc:
            raise InvalidInputError(("body", "requests", index, *exc.loc[1:]), exc.message) from exc
    decisions = []
    for index, (request, bars) in enumerate(zip(body.requests, prepared, strict=True)):
        try:
            decisions.append(_decide(services, bundle, request, bars))
        except InvalidInputError as exc:
            raise InvalidInputError(("body", "requests", index, *exc.loc[1:]), exc.message) from exc
    return BatchResponse(decisions=decisions)
