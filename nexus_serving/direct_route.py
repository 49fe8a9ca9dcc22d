"""Send the hot route straight to its endpoint, past routing and FastAPI's request handling.

The decision endpoint reads its own body, token and bundle, so routing it costs only
overhead: matching every route, the exception and exit-stack middlewares, dependency
resolution. That is about a sixth of a decision's CPU. The route stays registered with
FastAPI, which documents it in the OpenAPI schema and answers what this does not take
(another method, a trailing slash). Errors are answered by the app's own exception
handlers, looked up as Starlette's ``ExceptionMiddleware`` does; the rest propagate to the
server-error middleware, as they would from the router.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Handler = Callable[[Request, Exception], Response | Awaitable[Response]]


class DirectRoute:
    def __init__(self, app: ASGIApp, route: APIRoute, handlers: Mapping[Any, Handler]) -> None:
        self.app = app
        self.route = route
        self.endpoint: Callable[[Request], Awaitable[Response]] = route.endpoint
        self.methods = frozenset(route.methods or ())
        self.handlers = handlers
        """The app's exception handlers (a live view: handlers added later count too)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.route.path or scope["method"] not in self.methods:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route  # what routing leaves for the metrics' route label
        request = Request(scope, receive, send)
        try:
            response = await self.endpoint(request)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise
            answer = handler(request, exc)
            response = await answer if inspect.isawaitable(answer) else answer
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> Handler | None:
        """The handler Starlette's ExceptionMiddleware would pick; None for those it leaves alone."""
        if isinstance(exc, HTTPException) and exc.status_code in self.handlers:
            return self.handlers[exc.status_code]
        for kind in type(exc).__mro__:
            if kind is Exception:  # the app's catch-all belongs to the server-error middleware
                return None
            if kind in self.handlers:
                return self.handlers[kind]
        return None


def direct_route(routes: Sequence[Any], path: str, method: str) -> APIRoute:
    """The ``APIRoute`` of ``method path`` among a router's ``routes``; raises LookupError when there is none."""
    for route in routes:
        if isinstance(route, APIRoute) and route.path == path and method in (route.methods or ()):
            return route
    raise LookupError(f"no route for {method} {path}")
