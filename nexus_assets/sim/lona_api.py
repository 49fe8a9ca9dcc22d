"""The ``/api/v1`` routes of the Lona stand-in, in Lona's envelopes.

Success is ``{"data": ...}``, lists are ``{"data": {"items", "has_next", "total"}}`` paged by
``skip``/``limit`` (``limit`` capped at 100), errors are ``{"error": {"code", "message"}}``;
request-shape errors keep FastAPI's ``{"detail": [...]}`` because Lona answers both ways.
``GET /symbols/{id}/data`` is documented in ``nexus_assets.lona.symbol_data``; which of Lona's
shapes the symbol data and strategy code take is set by ``nexus_assets.sim.lona_wire_forms``.
"""

from __future__ import annotations

import hmac
import re
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from nexus_assets.lona.symbol_data import bars_from_csv, bars_payload, bars_records
from nexus_assets.ml.bars import BarsValidationError
from nexus_assets.sim.lona_records import WorldError
from nexus_assets.sim.lona_symbol_files import file_url
from nexus_assets.sim.lona_wire_forms import WireForms
from nexus_assets.sim.lona_world import LonaWorld

API_PREFIX = "/api/v1"
MAX_LIMIT = 100
_SYMBOL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json", headers=headers)


def ok(data: Any, status: int = 200) -> Response:
    return json_response({"data": data}, status)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    return json_response({"error": {"code": code, "message": message, **extra}}, status, headers)


def page(items: list[dict[str, Any]], skip: int, limit: int) -> Response:
    limit = min(limit, MAX_LIMIT)
    chunk = items[skip : skip + limit]
    return ok({"items": chunk, "has_next": skip + len(chunk) < len(items), "total": len(items)})


def get_world(request: Request) -> LonaWorld:
    return request.app.state.world


def require_agent(
    request: Request,
    api_key: Annotated[str | None, Header(alias="X-API-Key")] = None,
    user_id: Annotated[str | None, Header(alias="X-User-Id")] = None,
) -> None:
    """Both headers must match; compared in constant time."""
    expected_key: str = request.app.state.token
    expected_user: str = request.app.state.user_id
    if api_key is None or user_id is None:
        raise WorldError(401, "unauthorized", "missing X-API-Key or X-User-Id header")
    if not (
        hmac.compare_digest(api_key.encode(), expected_key.encode())
        and hmac.compare_digest(user_id.encode(), expected_user.encode())
    ):
        raise WorldError(401, "unauthorized", "invalid API key or user id")


def get_forms(request: Request) -> WireForms:
    return request.app.state.wire.current


WorldDep = Annotated[LonaWorld, Depends(get_world)]
FormsDep = Annotated[WireForms, Depends(get_forms)]
Skip = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1)]

router = APIRouter(prefix=API_PREFIX, dependencies=[Depends(require_agent)])


class StrategyCreate(BaseModel):
    """Lona's fields (``version`` and ``language`` as the original backend sends them) plus the
    stand-in's own ``template``/``parameters``/``symbols``, which pick the rule that trades."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default="", max_length=2000)
    code: str | None = Field(default=None, max_length=100_000)
    version: str = Field(default="1.0.0", min_length=1, max_length=32)
    language: Literal["python"] = "python"
    template: str = "sma_crossover"
    parameters: dict[str, Any] = Field(default_factory=dict)
    symbols: list[str] | None = None


class RunRequest(BaseModel):
    """``simulation_parameters`` is checked by ``SimulationParameters.from_json``, whose errors
    name the nested field (``simulation_parameters.commission_schema.leverage``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    strategy_id: str = Field(min_length=1)
    data_ids: list[str]
    start_date: str
    end_date: str
    simulation_parameters: dict[str, Any] | None = None


def _strategy(strategy: dict[str, Any], forms: WireForms) -> dict[str, Any]:
    if forms.strategy_code == "endpoint":
        return {k: v for k, v in strategy.items() if k != "code"}
    return strategy


def _symbol(request: Request, symbol: dict[str, Any], forms: WireForms) -> dict[str, Any]:
    link = file_url(request, symbol["id"]) if forms.symbol_data == "symbol_file_url" else None
    return {**symbol, "file_url": link}


@router.get("/strategies")
def list_strategies(world: WorldDep, forms: FormsDep, skip: Skip = 0, limit: Limit = MAX_LIMIT) -> Response:
    return page([_strategy(s, forms) for s in world.list_strategies()], skip, limit)


@router.get("/strategies/{strategy_id}")
def get_strategy(world: WorldDep, forms: FormsDep, strategy_id: str) -> Response:
    return ok(_strategy(world.get_strategy(strategy_id), forms))


@router.get("/strategies/{strategy_id}/code")
def get_strategy_code(world: WorldDep, strategy_id: str) -> Response:
    """``{"code": ...}``, which is all the original backend reads from this endpoint."""
    strategy = world.get_strategy(strategy_id)
    return ok({"id": strategy["id"], "code": strategy["code"], "language": strategy["language"]})


@router.post("/strategies")
def create_strategy(world: WorldDep, forms: FormsDep, body: StrategyCreate) -> Response:
    created = world.create_strategy(
        body.name,
        body.description or "",
        body.code,
        body.template,
        body.parameters,
        body.symbols,
        version=body.version,
    )
    return ok(_strategy(created, forms), 201)


@router.get("/symbols")
def list_symbols(
    request: Request, world: WorldDep, forms: FormsDep, skip: Skip = 0, limit: Limit = MAX_LIMIT
) -> Response:
    return page([_symbol(request, s, forms) for s in world.list_symbols()], skip, limit)


@router.get("/symbols/{symbol_id}")
def get_symbol(request: Request, world: WorldDep, forms: FormsDep, symbol_id: str) -> Response:
    return ok(_symbol(request, world.get_symbol(symbol_id), forms))


@router.get("/symbols/{symbol_id}/data")
def get_symbol_data(
    request: Request,
    world: WorldDep,
    forms: FormsDep,
    symbol_id: str,
    start_date: str | None = None,
    end_date: str | None = None,
) -> Response:
    record, bars = world.symbol_bars(symbol_id, start_date, end_date)
    if forms.symbol_data == "file_url":
        return ok({"file_url": file_url(request, record.id)})
    if forms.symbol_data == "records":
        return ok(bars_records(bars))
    return ok(
        {
            "symbol_id": record.id,
            "name": record.name,
            "frequency": record.frequency,
            "bars": bars_payload(bars),
        }
    )


@router.post("/symbols")
def upload_symbol(
    world: WorldDep,
    file: Annotated[UploadFile, File()],
    name: Annotated[str, Form()],
    frequency: Annotated[str, Form()] = "1d",
) -> Response:
    if not _SYMBOL_NAME.match(name):
        raise WorldError(422, "validation_error", "name: 1-32 letters, digits, '.', '_' or '-'")
    if frequency not in ("1d", "1h"):
        raise WorldError(422, "validation_error", "frequency: must be '1d' or '1h'")
    content = file.file.read()
    try:
        bars = bars_from_csv(content, symbol=name, source=f"upload {file.filename or name}")
    except BarsValidationError as exc:
        raise WorldError(422, "invalid_csv", str(exc), row=exc.row, column=exc.column) from exc
    return ok(world.add_symbol(name, frequency, bars), 201)


@router.post("/runner/run")
def run(world: WorldDep, body: RunRequest) -> Response:
    report_id = world.submit_run(
        body.strategy_id, body.data_ids, body.start_date, body.end_date, body.simulation_parameters
    )
    return ok({"report_id": report_id})


@router.get("/reports")
def list_reports(
    world: WorldDep,
    strategy_id: str | None = None,
    status: str | None = None,
    skip: Skip = 0,
    limit: Limit = MAX_LIMIT,
) -> Response:
    return page(world.list_reports(strategy_id, status), skip, limit)


@router.get("/reports/{report_id}/status")
def report_status(world: WorldDep, report_id: str) -> Response:
    return ok(world.report_status(report_id))


@router.get("/reports/{report_id}")
def get_report(world: WorldDep, report_id: str) -> Response:
    return ok(world.report_summary(report_id))


@router.get("/reports/{report_id}/full")
def get_full_report(world: WorldDep, report_id: str) -> Response:
    return ok(world.full_report(report_id))
