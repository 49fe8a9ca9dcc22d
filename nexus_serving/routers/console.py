"""The operator console at ``/console``: pages, the htmx fragments they poll and the risk form.

Every page and fragment needs the sign-in cookie (``nexus_serving.console.session``); changing
the kill switch needs an admin token and goes through the same ``RiskWatch.set`` as
``POST /v1/risk/kill-switch``. None of it is part of the v1 API, so none of it is in its schema.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, HTTPException, Path, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError

from nexus_assets.monitoring_record import SnapshotUnreadableError
from nexus_serving.console.audit_reader import Filters, decision, equity_marks, recent_decisions
from nexus_serving.console.equity_series import equity_series
from nexus_serving.console.links import Links
from nexus_serving.console.models_view import models_view
from nexus_serving.console.pages import SECURITY_HEADERS, STATIC_DIR, Live, live, render
from nexus_serving.console.portfolio_view import portfolio_view
from nexus_serving.console.risk_view import risk_view
from nexus_serving.console.session import (
    COOKIE,
    PREFIX,
    SIGN_IN,
    FragmentViewerDep,
    PageViewerDep,
    SignInRequiredError,
    Viewer,
    check_form,
    same_origin,
    viewer_for,
)
from nexus_serving.console.strategies_view import strategies_view
from nexus_serving.deps import ServicesDep
from nexus_serving.responses import OrjsonResponse
from nexus_serving.risk.schemas import KillSwitchChange
from nexus_serving.services import Services
from nexus_serving.stored_asset import StoredAssetError

router = APIRouter(prefix=PREFIX, include_in_schema=False, default_response_class=HTMLResponse)
ACTIONS = ("execute", "reduce", "reject", "halt")
_Filter = Annotated[str | None, Query(max_length=64)]
_Seen = Annotated[str | None, Query(max_length=64)]
"""The signature of what a polling fragment shows now (``pages.Live``)."""


def install(app: FastAPI) -> None:
    """The console's routes, its static files and the redirect to the sign-in form."""
    app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="console-static")

    async def sign_in_first(request: Request, exc: SignInRequiredError) -> RedirectResponse:
        return RedirectResponse(SIGN_IN, status.HTTP_303_SEE_OTHER, headers=SECURITY_HEADERS)

    app.add_exception_handler(SignInRequiredError, sign_in_first)


def _filters(symbol: str | None, action: str | None, strategy: str | None) -> Filters:
    return Filters(
        symbol=symbol or None, action=action if action in ACTIONS else None, strategy=strategy or None
    )


def _base(viewer: Viewer, services: Services) -> dict:
    return {"viewer": viewer, "audit_enabled": services.settings.audit_enabled, "actions": ACTIONS}


def _decisions_live(services: Services, filters: Filters) -> Live:
    settings = services.settings
    rows = recent_decisions(settings, filters) if settings.audit_enabled else []
    context = {"audit_enabled": settings.audit_enabled, "filters": filters, "decisions": rows}
    return live("decisions_table.html", context)


def _risk_live(services: Services) -> Live:
    return live(
        "risk_status.html", {"risk": risk_view(services.risk_watch, services.settings.drawdown_limit)}
    )


def _poll(request: Request, template: str, context: dict, current: Live, seen: str | None) -> Response:
    """The fragment, or 204 when the poller already shows it (htmx then leaves the page alone)."""
    if seen == current.signature:
        return Response(status_code=status.HTTP_204_NO_CONTENT, headers=SECURITY_HEADERS)
    return render(request, template, context)


@router.get("/sign-in")
def sign_in_form(request: Request) -> HTMLResponse:
    return render(request, "sign_in.html", {"error": None})


@router.post("/sign-in")
def sign_in(
    request: Request, services: ServicesDep, token: Annotated[str, Form(max_length=512)] = ""
) -> Response:
    """Keep a valid token in the cookie and go to the console; a wrong one gets the form again."""
    viewer = viewer_for(token.strip(), services.settings)
    if viewer is None or not same_origin(request):
        return render(
            request, "sign_in.html", {"error": "That token is not accepted."}, status.HTTP_401_UNAUTHORIZED
        )
    response = RedirectResponse(PREFIX, status.HTTP_303_SEE_OTHER, headers=SECURITY_HEADERS)
    response.set_cookie(
        COOKIE,
        viewer.token,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/sign-out")
def sign_out(
    request: Request, viewer: FragmentViewerDep, csrf: Annotated[str, Form()] = ""
) -> RedirectResponse:
    check_form(request, viewer, csrf)
    response = RedirectResponse(SIGN_IN, status.HTTP_303_SEE_OTHER, headers=SECURITY_HEADERS)
    response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return response


@router.get("")
def console_page(
    request: Request,
    viewer: PageViewerDep,
    services: ServicesDep,
    symbol: _Filter = None,
    action: _Filter = None,
    strategy: _Filter = None,
) -> HTMLResponse:
    filters = _filters(symbol, action, strategy)
    links = Links.of(services.settings.dagster_url, services.settings.tracking_uri)
    context = _base(viewer, services) | {
        "filters": filters,
        "decisions_live": _decisions_live(services, filters),
        "risk": risk_view(services.risk_watch, services.settings.drawdown_limit),
        "risk_live": _risk_live(services),
        "portfolio": portfolio_view(services.allocations),
        "models": models_view(
            services.store, services.settings.max_model_age_days, links, services.tables.monitoring
        ),
        "strategies": strategies_view(services.tables),
        "links": links,
    }
    return render(request, "console.html", context)


@router.get("/fragments/decisions")
def decisions_fragment(
    request: Request,
    viewer: FragmentViewerDep,
    services: ServicesDep,
    symbol: _Filter = None,
    action: _Filter = None,
    strategy: _Filter = None,
    seen: _Seen = None,
) -> Response:
    current = _decisions_live(services, _filters(symbol, action, strategy))
    return _poll(request, "live_decisions.html", {"decisions_live": current}, current, seen)


@router.get("/fragments/risk")
def risk_fragment(
    request: Request, viewer: FragmentViewerDep, services: ServicesDep, seen: _Seen = None
) -> Response:
    current = _risk_live(services)
    return _poll(request, "live_risk.html", {"risk_live": current}, current, seen)


@router.get("/data/equity", response_class=OrjsonResponse)
def equity_data(viewer: FragmentViewerDep, services: ServicesDep) -> OrjsonResponse:
    """Each book's equity curve and drawdown for the risk panel's chart."""
    settings = services.settings
    marks = equity_marks(settings) if settings.audit_enabled else []
    return OrjsonResponse(equity_series(marks, settings.drawdown_limit), headers=SECURITY_HEADERS)


@router.get("/data/monitoring", response_class=OrjsonResponse)
def monitoring_data(viewer: FragmentViewerDep, services: ServicesDep) -> OrjsonResponse:
    """The rolling live-skill curves of the last monitoring snapshot for the models panel's charts."""
    try:
        snapshot = services.tables.monitoring.latest()
    except (StoredAssetError, SnapshotUnreadableError) as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    curves = [] if snapshot is None else [c.model_dump() for c in snapshot.curves]
    curves.sort(key=lambda c: (c["model"], not c["champion"], c["version"]))
    return OrjsonResponse({"curves": curves}, headers=SECURITY_HEADERS)


@router.get("/decisions/{decision_id}")
def decision_page(
    request: Request,
    viewer: PageViewerDep,
    services: ServicesDep,
    decision_id: Annotated[str, Path(max_length=128)],
) -> HTMLResponse:
    found = decision(services.settings, decision_id) if services.settings.audit_enabled else None
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no decision {decision_id!r} in the audit log")
    return render(request, "decision.html", _base(viewer, services) | {"decision": found})


@router.post("/risk/kill-switch")
def change_kill_switch(
    request: Request,
    viewer: FragmentViewerDep,
    services: ServicesDep,
    engaged: Annotated[str, Form()] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Engage or release the kill switch from the console: an admin token, a reason, the same
    ``RiskWatch.set`` as the API (the change holds on every worker within a poll)."""
    check_form(request, viewer, csrf)
    if viewer.admin is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "changing the kill switch needs an admin token")
    try:
        change = KillSwitchChange(engaged=engaged == "true", reason=reason.strip())
    except ValidationError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "give a reason (1 to 500 printable characters)"
        ) from exc
    watch = services.risk_watch
    try:
        watch.set(change.engaged, viewer.admin, change.reason)
    except Exception as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"the kill switch was not changed: {watch.store.description} could not record it ({type(exc).__name__})",
        ) from exc
    if request.headers.get("hx-request") != "true":  # a plain form post: back to the page
        return RedirectResponse(f"{PREFIX}#risk", status.HTTP_303_SEE_OTHER, headers=SECURITY_HEADERS)
    return render(request, "live_risk.html", {"risk_live": _risk_live(services), "changed": change})
