"""Bound request bodies in size (413) and in time (408), as the app reads them.

Nothing is read here ahead of the app: a route checks the token before it reads its body, so
a caller without one cannot make a worker hold a chunked body. A declared ``Content-Length``
over the limit is refused at once; otherwise every chunk is counted as the route reads it, and
the whole body must arrive within ``timeout_s`` of the request's head.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nexus_serving.responses import OrjsonResponse


class BodyTooLargeError(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than {limit} bytes")


class BodyTimeoutError(Exception):
    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"request body not received within {timeout_s:g} s")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int], timeout_s: float) -> None:
        self.app = app
        self.limit_for = limit_for
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await too_large(limit)(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        size = 0
        done = False

        async def bounded() -> Message:
            nonlocal size, done
            if done:  # after the body only http.disconnect comes, whenever it comes
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeoutError(self.timeout_s) from None
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    raise BodyTooLargeError(limit)
                done = not message.get("more_body", False)
            return message

        await self.app(scope, bounded, send)


CLOSE = {"connection": "close"}
"""Sent with both refusals: the rest of that body is never read, so the connection cannot be reused."""


def too_large(limit: int) -> OrjsonResponse:
    return OrjsonResponse({"detail": str(BodyTooLargeError(limit))}, status_code=413, headers=CLOSE)
