"""How the service runs under uvicorn, shared by ``nexus serve`` and the tests.

uvloop and httptools are named, so a missing one fails loudly instead of falling back to the
pure-Python loop and parser. Several workers run under uvicorn's own supervisor on one shared
socket; ``docs/performance.md`` has the measurement that chose it over a home-made dispatcher.
"""

from __future__ import annotations

import logging
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

logger = logging.getLogger("uvicorn.error")


def server_config(app: Any, *, host: str, port: int, **options: Any) -> uvicorn.Config:
    return uvicorn.Config(app, host=host, port=port, loop="uvloop", http="httptools", **options)


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
