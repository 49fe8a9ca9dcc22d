"""What the service is deciding with: versions, training dates, staleness, window, source."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from nexus_serving import error_responses
from nexus_serving.decisions.request_bars import required_bars
from nexus_serving.deps import BundleDep, ServicesDep, TokenDep
from nexus_serving.schemas import ModelsResponse, ModelStatus

router = APIRouter(
    prefix="/v1/models",
    tags=["models"],
    dependencies=[TokenDep],
    responses=error_responses.AUTH | error_responses.NO_MODELS,
)


@router.get("", response_model=ModelsResponse)
def list_models(services: ServicesDep, bundle: BundleDep) -> ModelsResponse:
    now = datetime.now(UTC)
    limit = services.settings.max_model_age_days
    models = [
        ModelStatus(
            name=info.name,
            version=info.version,
            alias=info.alias,
            trained_at=info.trained_at,
            age_days=info.age_days(now),
            stale=info.age_days(now) > limit,
            window=bundle.window,
            source=bundle.source,
        )
        for info in bundle.info.values()
    ]
    return ModelsResponse(
        models=models,
        window=bundle.window,
        bars_required=required_bars(bundle.window),
        source=bundle.source,
        loaded_at=bundle.loaded_at,
    )
