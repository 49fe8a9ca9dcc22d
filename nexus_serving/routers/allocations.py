"""GET /v1/allocations/latest: the portfolio the asset graph last computed (and published)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from nexus_assets.allocation_record import AllocationUnreadableError
from nexus_serving import error_responses
from nexus_serving.allocation_schemas import AllocationResponse
from nexus_serving.deps import ServicesDep, TokenDep
from nexus_serving.stored_asset import StoredAssetError

router = APIRouter(
    prefix="/v1/allocations", tags=["allocations"], dependencies=[TokenDep], responses=error_responses.AUTH
)


@router.get(
    "/latest",
    response_model=AllocationResponse,
    responses={
        404: {"model": error_responses.Message, "description": "no allocation has been materialized yet"},
        503: {"model": error_responses.Message, "description": "the stored allocation cannot be read"},
    },
)
def latest_allocation(services: ServicesDep) -> AllocationResponse:
    try:
        latest = services.allocations.latest()
    except (AllocationUnreadableError, StoredAssetError) as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"stored allocation unreadable: {exc}"
        ) from exc
    if latest is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            "no allocation has been materialized yet: materialize the portfolio_allocation asset",
        )
    return latest
