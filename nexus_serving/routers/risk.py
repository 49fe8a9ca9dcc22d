"""The shared risk state, read and changed at run time: the kill switch, latches and equity marks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status

from nexus_assets.risk_store import EquityMark
from nexus_serving import error_responses
from nexus_serving.deps import AdminDep, ServicesDep, TokenDep
from nexus_serving.risk.schemas import (
    KillSwitchChange,
    KillSwitchStatus,
    LatchStatus,
    MarkReset,
    MarkStatus,
    RiskResponse,
)
from nexus_serving.risk.watch import RiskWatch
from nexus_serving.schemas import Identifier

router = APIRouter(prefix="/v1/risk", tags=["risk"], responses=error_responses.AUTH)

_STORE_DOWN = {
    503: {"model": error_responses.Message, "description": "the store could not record the change"}
}


@router.get("", response_model=RiskResponse, dependencies=[TokenDep])
def read_risk(services: ServicesDep) -> RiskResponse:
    """The risk state as this worker holds it: the kill switch (who changed it, when, why), the
    anomaly latches and the books' equity marks."""
    return _risk(services.risk_watch)


@router.post("/kill-switch", response_model=RiskResponse, responses=error_responses.JSON_BODY | _STORE_DOWN)
def change_kill_switch(change: KillSwitchChange, admin: AdminDep, services: ServicesDep) -> RiskResponse:
    """Engage or release the kill switch (an admin token, ``NEXUS_ADMIN_TOKENS``); every worker
    and replica holds the change within ``NEXUS_RISK_POLL_SECONDS``."""
    watch = services.risk_watch
    try:
        watch.set(change.engaged, admin, change.reason)
    except Exception as exc:
        raise _not_recorded("the kill switch", watch, exc) from exc
    return _risk(watch)


@router.post(
    "/books/{book}/reset",
    response_model=RiskResponse,
    responses=error_responses.JSON_BODY
    | _STORE_DOWN
    | {404: {"model": error_responses.Message, "description": "no decision ever named this book"}},
)
def reset_book_mark(
    book: Annotated[Identifier, Path()], reset: MarkReset, admin: AdminDep, services: ServicesDep
) -> RiskResponse:
    """Reset a book's high-water mark (an admin token), after a withdrawal say, so the drawdown
    breaker measures from the new mark; every worker and replica holds it within a poll."""
    watch = services.risk_watch
    try:
        watch.reset_mark(book, admin, reset.reason, reset.peak_equity)
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"book {book!r} has no equity mark") from None
    except Exception as exc:
        raise _not_recorded(f"the mark of book {book!r}", watch, exc) from exc
    return _risk(watch)


def _not_recorded(what: str, watch: RiskWatch, exc: Exception) -> HTTPException:
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"{what} was not changed: {watch.store.description} could not record it ({type(exc).__name__})",
    )


def _mark(mark: EquityMark) -> MarkStatus:
    return MarkStatus(
        equity=mark.equity,
        peak_equity=mark.peak_equity,
        drawdown=mark.drawdown,
        generation=mark.generation,
        updated_at=mark.updated_at,
        reset_by=mark.reset_by,
        reset_reason=mark.reset_reason,
    )


def _risk(watch: RiskWatch) -> RiskResponse:
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
        ),
        anomaly_latches={
            symbol: LatchStatus(
                halted=latch.halted,
                anomaly_score=latch.anomaly_score,
                decision_id=latch.decision_id,
                changed_at=latch.changed_at,
            )
            for symbol, latch in sorted(watch.latches.items())
        },
        books={book: _mark(mark) for book, mark in sorted(watch.marks.items())},
    )
