"""The Lona stand-in as an HTTP server: Lona's API plus test controls under ``/_sim``.

Run it with ``python -m nexus_assets.sim.lona_server --port 8765`` (token and user id from
``--token``/``--user-id`` or LONA_AGENT_TOKEN/LONA_AGENT_ID; prefer the environment, which
keeps the token out of the process list).

Test controls need no credentials (the stand-in is meant for loopback only):
``POST /_sim/tick?n=1`` reveals the next bar(s) and completes the next strategy's report;
``GET /_sim/state``; ``POST /_sim/faults`` arms a fault for the next ``count`` matching
``/api/v1`` requests: ``{"status": 429|5xx|4xx, "retry_after"?, "body"?}``, ``{"malformed":
true}`` (200 with a non-JSON body) or ``{"delay_s": x}`` (answer late), each with optional
``path_prefix`` (``/reports`` or ``/api/v1/reports``); ``DELETE /_sim/faults`` disarms them;
``GET /_sim/stats`` counts the API requests that arrived, ``DELETE /_sim/stats`` resets them;
``GET|POST|DELETE /_sim/protocol`` reads, changes or resets which of Lona's answer shapes is
given (``nexus_assets.sim.lona_wire_forms``). Symbol CSVs behind ``file_url`` are served at
``/files/symbols/{id}.csv`` (``nexus_assets.sim.lona_symbol_files``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from nexus_assets.sim.lona_api import API_PREFIX, error_response, json_response, ok, router
from nexus_assets.sim.lona_faults import FaultBoard, FaultSpec, RequestStats
from nexus_assets.sim.lona_records import WorldError
from nexus_assets.sim.lona_symbol_files import symbol_file_routes
from nexus_assets.sim.lona_wire_forms import (
    STRATEGY_CODE_FORMS,
    SYMBOL_DATA_FORMS,
    WireForms,
    WireSettings,
    wire_form_routes,
)
from nexus_assets.sim.lona_world import LonaWorld, WorldConfig
from nexus_assets.sim.sim_controls import Ticker, fault_and_stats_routes
from nexus_assets.sim.stand_in_cli import configure_logging, serve, stand_in_parser

logger = logging.getLogger("nexus_assets.sim.lona_server")
_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found"}


def _fault_response(fault: FaultSpec) -> Response:
    if fault.malformed:
        body = fault.body if fault.body is not None else "<html>gateway hiccup</html>"
        return Response(body.encode(), status_code=200, media_type="application/json")
    status = fault.status or 500
    headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
    if fault.body is not None:
        return Response(fault.body.encode(), status_code=status, headers=headers)
    code = "rate_limited" if status == 429 else _HTTP_CODES.get(status, f"http_{status}")
    return error_response(status, code, f"injected fault: HTTP {status}", headers)


def create_app(
    world: LonaWorld,
    *,
    token: str,
    user_id: str,
    report_interval_s: float = 5.0,
    forms: WireForms | None = None,
) -> FastAPI:
    """The stand-in app; the ticker runs only while the app is being served."""
    if not token or not user_id:
        raise ValueError("token and user_id must not be empty")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ticker = None
        if report_interval_s > 0 and math.isfinite(report_interval_s):
            ticker = Ticker(world.tick, report_interval_s, "lona")
            ticker.start()
        try:
            yield
        finally:
            if ticker is not None:
                ticker.stop()

    app = FastAPI(title="Lona gateway stand-in", lifespan=lifespan)
    app.state.world = world
    app.state.token = token
    app.state.user_id = user_id
    app.state.wire = WireSettings(forms or WireForms())
    faults = FaultBoard(API_PREFIX)
    stats = RequestStats()

    @app.middleware("http")
    async def inject_faults(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        if not path.startswith(API_PREFIX):
            return await call_next(request)
        stats.arrived(request.method, path)
        status = 500
        try:
            fault = faults.take(path, request.method)
            if fault is not None and fault.delay_s is not None:
                await asyncio.sleep(fault.delay_s)
                fault = None
            response = _fault_response(fault) if fault is not None else await call_next(request)
            status = response.status_code
            return response
        finally:
            stats.answered(status)

    @app.exception_handler(WorldError)
    async def world_error(request: Request, exc: WorldError) -> Response:
        return error_response(exc.status, exc.code, exc.message, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return error_response(exc.status_code, code, str(exc.detail), exc.headers)

    @app.get("/health")
    def health() -> Response:
        return json_response({"status": "ok"})

    @app.post("/_sim/tick")
    def tick(n: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
        last = {}
        for _ in range(n):
            last = world.tick()
        return ok(last)

    @app.get("/_sim/state")
    def state() -> Response:
        return ok(world.state())

    app.include_router(fault_and_stats_routes(faults, stats, ok))
    app.include_router(wire_form_routes(app.state.wire, ok))
    app.include_router(symbol_file_routes(world, app.state.wire))
    app.include_router(router)
    return app


def _parser() -> argparse.ArgumentParser:
    parser = stand_in_parser(
        "nexus_assets.sim.lona_server",
        "Serve the Lona stand-in.",
        initial_bars=WorldConfig.initial_bars,
        port=8765,
        initial_bars_help="bars revealed at start, the last at the newest close",
    )
    parser.add_argument("--token", default=os.environ.get("LONA_AGENT_TOKEN", "dev-token"))
    parser.add_argument("--user-id", default=os.environ.get("LONA_AGENT_ID", "dev-agent"))
    parser.add_argument(
        "--report-interval",
        type=float,
        default=5.0,
        help="seconds between ticks (new bar + new report); 0 disables the ticker",
    )
    parser.add_argument("--strategies", type=int, default=12, help="number of strategies")
    parser.add_argument(
        "--symbol-data-form",
        choices=SYMBOL_DATA_FORMS,
        default="columnar",
        help="shape of symbol data (see nexus_assets.sim.lona_wire_forms)",
    )
    parser.add_argument(
        "--strategy-code",
        choices=STRATEGY_CODE_FORMS,
        default="inline",
        help="'endpoint': strategies omit code, only GET /strategies/{id}/code has it",
    )
    parser.add_argument("--horizon-bars", type=int, default=WorldConfig.horizon_bars, help="bars in total")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    configure_logging(args)
    config = WorldConfig(
        seed=args.seed,
        symbols=args.symbols,
        n_strategies=args.strategies,
        initial_bars=args.initial_bars,
        horizon_bars=max(args.horizon_bars, args.initial_bars),
    )
    world = LonaWorld(config)
    forms = WireForms(symbol_data=args.symbol_data_form, strategy_code=args.strategy_code)
    app = create_app(
        world,
        token=args.token,
        user_id=args.user_id,
        report_interval_s=args.report_interval,
        forms=forms,
    )
    logger.warning(
        "Lona stand-in on http://%s:%d%s for user %s (%d strategies, seed %d)",
        args.host,
        args.port,
        API_PREFIX,
        args.user_id,
        config.n_strategies,
        config.seed,
    )
    serve(app, args)


if __name__ == "__main__":
    main()
