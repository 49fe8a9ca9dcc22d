"""How the service runs under uvicorn, shared by ``nexus serve`` and the tests.

uvloop and httptools are named, so a missing one fails loudly instead of falling back to the
pure-Python loop and parser; the httptools protocol is uvicorn's with bounds on request heads
(``http_limits``). Several workers run under uvicorn's own supervisor on one shared
socket; ``docs/performance.md`` has the measurement that chose it over a home-made dispatcher.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from nexus_serving.http_limits import DEFAULT_HEAD_TIMEOUT_S, DEFAULT_MAX_HEAD_BYTES, BoundedHttpToolsProtocol
from nexus_serving.settings import Settings

logger = logging.getLogger("uvicorn.error")


def server_config(
    app: Any,
    *,
    host: str,
    port: int,
    max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES,
    head_timeout_s: float = DEFAULT_HEAD_TIMEOUT_S,
    **options: Any,
) -> uvicorn.Config:
    protocol = functools.partial(
        BoundedHttpToolsProtocol, max_head_bytes=max_head_bytes, head_timeout_s=head_timeout_s
    )
    return uvicorn.Config(app, host=host, port=port, loop="uvloop", http=protocol, **options)


def connection_options(settings: Settings) -> dict[str, Any]:
    """``server_config`` options from the settings: bounds on heads, connections and shutdown."""
    return {
        "max_head_bytes": settings.max_head_bytes,
        "head_timeout_s": settings.head_timeout_s,
        "limit_concurrency": settings.max_connections,
        "timeout_graceful_shutdown": settings.shutdown_timeout_s,
    }


def serve(config: uvicorn.Config) -> int:
    """Run ``config`` until SIGINT/SIGTERM: in this process for one worker, else under uvicorn's
    supervisor, which restarts a worker that dies. Returns the exit code: ``STARTUP_FAILURE``
    (3) when the port cannot be bound or the app fails to start."""
    if config.workers <= 1:
        server = uvicorn.Server(config)
        server.run()
        return 0 if server.started else STARTUP_FAILURE
    config.configure_logging()
    try:
        sock = config.bind_socket()
    except SystemExit:  # uvicorn has logged the OS error
        logger.error("cannot listen on %s:%d", config.host, config.port)
        return STARTUP_FAILURE
    with sock:
        supervisor = Multiprocess(config, sockets=[sock])
        supervisor.run()
    failed = any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes)
    return STARTUP_FAILURE if failed else 0
