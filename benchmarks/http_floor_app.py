"""The cheapest HTTP service on the same stack: what a request costs before any decision work.

A bare ASGI app under the same uvicorn (httptools, uvloop) that reads the body, parses it with
orjson and answers a fixed decision-sized JSON. ``benchmarks/serving.py --floor`` drives it with
the decision requests, so the table shows how much of a decision's CPU the transport takes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

Message = MutableMapping[str, Any]
ANSWER = orjson.dumps(
    {
        "request_id": "bench-000000000001",
        "decision_id": "0" * 32,
        "action": "buy",
        "target_weight": 0.05,
        "quantity": 120.0,
        "confidence": 0.5,
        "predicted_return": 0.001,
        "volatility_forecast": 0.01,
        "anomaly_score": 0.2,
        "reasons": [],
        "model_versions": {"predictor": "1", "volatility": "1", "anomaly": "1"},
        "decided_at": "2026-01-01T00:00:00Z",
    }
)
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]


async def app(
    scope: Message, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
) -> None:
    if scope["type"] != "http":
        return
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if body:  # GET / is the health check
        orjson.loads(body)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": ANSWER})
