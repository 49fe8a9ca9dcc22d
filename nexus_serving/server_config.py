"""The uvicorn configuration the service runs under, shared by ``nexus serve`` and the tests."""

from __future__ import annotations

from typing import Any

import uvicorn

from nexus_serving.http_protocol import ServiceHttpProtocol


def server_config(app: Any, *, host: str, port: int, **options: Any) -> uvicorn.Config:
    """uvloop and httptools named, so a missing one fails loudly instead of falling back to the
    pure-Python loop and parser; the protocol is uvicorn's httptools one, sending each
    response in one write (``http_protocol``)."""
    return uvicorn.Config(app, host=host, port=port, loop="uvloop", http=ServiceHttpProtocol, **options)
