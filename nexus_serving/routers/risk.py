"""GET /v1/risk and POST /v1/risk/kill-switch: the shared kill switch, read and set at run time."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from nexus_serving import error_responses
from nexus_serving.deps import AdminDep, ServicesDep, TokenDep
from nexus_serving.risk_schemas import KillSwitchChange, KillSwitchStatus, RiskResponse
from nexus_serving.risk_watch import KillSwitchWatch

router = APIRouter(prefix="/v1/risk", tags=["risk"], responses=error_responses.AUTH)


@router.get("", response_model=RiskResponse, dependencies=[TokenDep])
def read_risk(services: ServicesDep) -> RiskResponse:
    """The kill switch as this worker holds it, with who changed it, when and why."""
    return _risk(services.kill_switch)


@router.post(
    "/kill-switch",
    response_model=RiskResponse,
    responses=error_responses.JSON_BODY
    | {503: {"model": error_responses.Message, "description": "the store could not record the change"}},
)
def change_kill_switch(change: KillSwitchChange, admin: AdminDep, services: ServicesDep) -> RiskResponse:
    """Engage or release the kill switch (an admin token, ``NEXUS_ADMIN_TOKENS``); every worker
    and replica holds the change within ``NEXUS_RISK_POLL_SECONDS``."""
    watch = services.kill_switch
    try:
        watch.set(change.engaged, admin, change.reason)
    except Exception as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"the kill switch was not changed: {watch.store.description} could not record it ({type(exc).__name__})",
        ) from exc
    return _risk(watch)


def _risk(watch: KillSwitchWatch) -> RiskResponse:
    state = watch.state
    return RiskResponse(
        kill_switch=KillSwitchStatus(
            engaged=watch.engaged,
            held_by_deployment=watch.held,
            changed_by=state.changed_by,
            changed_at=state.changed_at,
            reason=state.reason,
            read_at=watch.read_at,
            error=watch.error,
        )
    )
