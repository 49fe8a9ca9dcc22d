"""The Live Engine stand-in as an HTTP server: the engine's internal API plus test controls.

Run it with ``python -m nexus_assets.sim.live_engine_server --port 8766`` (or ``nexus
live-engine-sim``); the API key comes from ``--api-key`` or LIVE_ENGINE_API_KEY (prefer the
environment, which keeps the key out of the process list).

Test controls under ``/_sim`` need no credentials (the stand-in is meant for loopback only):
``POST /_sim/tick?n=1`` advances the bar clock and fills what the new bars reach, answering
``{"state": {...}, "filled": [order ids]}``; ``GET /_sim/state``; ``GET /_sim/orders`` lists
every order the engine holds with its fill price; ``POST /_sim/restart`` makes the engine
forget its orders and count ids from the start, as a restart of the real one does;
``POST /_sim/reset`` empties the store (orders, deployments, portfolios back to cash);
``POST /_sim/faults`` arms a fault for the next ``count`` matching ``/api/internal`` requests,
as the Lona stand-in does: ``{"status": 429|5xx|4xx, "retry_after"?, "body"?}``,
``{"malformed": true}`` (200 with a non-JSON body; nothing happens) or ``{"delay_s": x}`` (the
request takes effect at once and its answer comes late: a lost answer), each with an optional
``path_prefix`` (``/orders`` or ``/api/internal/orders``) and ``method``; ``DELETE /_sim/faults``
disarms them; ``GET /_sim/stats`` counts the API requests that arrived, ``DELETE`` resets.
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
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from nexus_assets.sim.live_engine_api import (
    API_PREFIX,
    bearer_problem,
    error_response,
    json_response,
    router,
)
from nexus_assets.sim.live_engine_records import EngineError
from nexus_assets.sim.live_engine_world import LiveEngineWorld, WorldConfig
from nexus_assets.sim.lona_faults import FaultBoard, FaultSpec, RequestStats
from nexus_assets.sim.sim_controls import Ticker, fault_and_stats_routes
from nexus_assets.sim.stand_in_cli import configure_logging, serve, stand_in_parser

logger = logging.getLogger("nexus_assets.sim.live_engine_server")


def _fault_response(fault: FaultSpec) -> Response:
    if fault.malformed:
        body = fault.body if fault.body is not None else "<html>engine hiccup</html>"
        return Response(body.encode(), status_code=200, media_type="application/json")
    status = fault.status or 500
    headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
    if fault.body is not None:
        return Response(fault.body.encode(), status_code=status, headers=headers)
    return error_response(status, f"injected fault: HTTP {status}", headers)


def _validation_message(exc: RequestValidationError) -> tuple[int, str]:
    """400, as the real engine answers a bad body; the text names each offending field."""
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "body: not valid JSON"
    parts = []
    for error in errors:
        loc = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{loc or 'body'}: {error.get('msg', 'invalid')}")
    return 400, "; ".join(parts)


def create_app(world: LiveEngineWorld, *, api_key: str, bar_interval_s: float = 0.0) -> FastAPI:
    """The stand-in app; the ticker runs only while the app is being served."""
    if not api_key:
        raise ValueError("api_key must not be empty")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ticker = None
        if bar_interval_s > 0 and math.isfinite(bar_interval_s):
            ticker = Ticker(world.tick, bar_interval_s, "live-engine")
            ticker.start()
        try:
            yield
        finally:
            if ticker is not None:
                ticker.stop()

    app = FastAPI(title="Live Engine stand-in", lifespan=lifespan)
    app.state.world = world
    faults = FaultBoard(API_PREFIX)
    stats = RequestStats()

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Count, inject faults, then check the key, all before a handler reads the body."""
        path = request.url.path
        if not path.startswith(API_PREFIX):
            return await call_next(request)
        stats.arrived(request.method, path)
        status = 500
        try:
            fault = faults.take(path, request.method)
            delay_s = fault.delay_s if fault is not None else None
            if fault is not None and delay_s is None:
                response = _fault_response(fault)
            elif problem := bearer_problem(request.headers.get("Authorization"), api_key):
                response = error_response(401, problem, {"WWW-Authenticate": "Bearer"})
            else:
                response = await call_next(request)
            if delay_s is not None:
                await asyncio.sleep(delay_s)
            status = response.status_code
            return response
        finally:
            stats.answered(status)

    @app.exception_handler(EngineError)
    async def engine_error(request: Request, exc: EngineError) -> Response:
        return error_response(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        return error_response(*_validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(exc.status_code, str(exc.detail), exc.headers)

    @app.get("/health")
    def health() -> Response:
        return json_response({"status": "ok"})

    @app.post("/_sim/tick")
    def tick(n: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
        filled: list[str] = []
        state = {}
        for _ in range(n):
            result = world.tick()
            filled.extend(result.pop("filled"))
            state = result
        return json_response({"state": state, "filled": filled})

    @app.get("/_sim/state")
    def state() -> Response:
        return json_response({"state": world.state()})

    @app.get("/_sim/orders")
    def orders() -> Response:
        return json_response({"orders": world.fills()})

    @app.post("/_sim/restart")
    def restart() -> Response:
        return json_response({"forgotten": world.forget_orders()})

    @app.post("/_sim/reset")
    def reset() -> Response:
        world.reset()
        return json_response({"state": world.state()})

    app.include_router(fault_and_stats_routes(faults, stats, json_response, stats_key="stats"))
    app.include_router(router)
    return app


def _parser() -> argparse.ArgumentParser:
    parser = stand_in_parser(
        "nexus_assets.sim.live_engine_server",
        "Serve the Live Engine stand-in.",
        initial_bars=WorldConfig.initial_bars,
        port=8766,
        initial_bars_help="bars before start-up, the last at the newest close (as the Lona stand-in)",
    )
    parser.add_argument("--api-key", default=os.environ.get("LIVE_ENGINE_API_KEY", "dev-key"))
    parser.add_argument(
        "--capital", type=float, default=WorldConfig.capital, help="each portfolio's cash at start-up"
    )
    parser.add_argument(
        "--bar-interval",
        type=float,
        default=5.0,
        help="seconds between bars (resting orders fill at each new bar); 0 disables the ticker",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    configure_logging(args)
    world = LiveEngineWorld(
        WorldConfig(
            seed=args.seed, symbols=args.symbols, initial_bars=args.initial_bars, capital=args.capital
        )
    )
    app = create_app(world, api_key=args.api_key, bar_interval_s=args.bar_interval)
    logger.warning(
        "Live Engine stand-in on http://%s:%d%s (seed %d, a bar every %gs)",
        args.host,
        args.port,
        API_PREFIX,
        args.seed,
        args.bar_interval,
    )
    serve(app, args)


if __name__ == "__main__":
    main()
