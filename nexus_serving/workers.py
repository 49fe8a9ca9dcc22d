"""Worker processes that each listen on their own socket, so the kernel spreads connections.

uvicorn's workers share one listening socket, and the worker that wakes first accepts a whole
burst: a client that opens its keep-alive pool at once (the Live Engine, a load test) lands
on one worker while the others idle. Measured with 2 workers and 8 connections: every
connection on one worker, half the machine unused. Here each worker binds its own socket
with ``SO_REUSEPORT`` and Linux hashes each new connection to one of them.

The supervisor keeps the port bound (not listening, so it receives nothing) for as long as it
runs: a port in use fails at once (another ``nexus serve`` included), and port 0 resolves to
one port for every worker. It
restarts a worker that dies after start-up, stops everything when one fails to start (a
broken app or setting fails the same way every time), and forwards SIGINT/SIGTERM so each
worker drains its requests and closes its audit log.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

logger = logging.getLogger("uvicorn.error")
STOP_TIMEOUT_S = 30.0
"""How long a worker may take to drain after SIGTERM before it is killed."""


def _family(host: str) -> socket.AddressFamily:
    """IPv6 for an address with a colon, as uvicorn decides."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT``; not yet listening."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _reserve(host: str, port: int) -> socket.socket:
    """The port for the workers' sockets, refused when anything holds it.

    Probed first without ``SO_REUSEPORT``: a second ``nexus serve`` on the same port would
    otherwise join this one's sockets and silently take half its connections.
    """
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.bind((host, port))
        port = probe.getsockname()[1]
    return reuse_port_socket(host, port)


def _worker(config: uvicorn.Config) -> None:
    """One worker process: its own listening socket, then uvicorn's server loop."""
    config.configure_logging()
    try:
        sock = reuse_port_socket(config.host, config.port)
        sock.listen(config.backlog)
    except OSError as exc:
        logger.error("worker cannot listen on %s:%d: %s", config.host, config.port, exc)
        raise SystemExit(STARTUP_FAILURE) from exc
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:  # the app failed to start (lifespan, settings): say so to the supervisor
        raise SystemExit(STARTUP_FAILURE)


class Supervisor:
    def __init__(self, config: uvicorn.Config, workers: int) -> None:
        self.config = config
        self.workers = workers
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[BaseProcess] = []
        self._stop = threading.Event()
        self.exit_code = 0

    def run(self) -> int:
        """Serve until SIGINT/SIGTERM, or until a worker fails to start; returns the exit code."""
        try:
            reserved = _reserve(self.config.host, self.config.port)
        except OSError as exc:
            logger.error("cannot bind %s:%d: %s", self.config.host, self.config.port, exc)
            return STARTUP_FAILURE
        with reserved:
            self.config.port = reserved.getsockname()[1]
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self._on_signal)
            logger.info(
                "serving on http://%s:%d with %d workers, one socket each",
                self.config.host, self.config.port, self.workers,
            )  # fmt: skip
            self._processes = [self._start() for _ in range(self.workers)]
            while not self._stop.wait(0.5):
                self._replace_dead()
            self._stop_all()
        return self.exit_code

    def _start(self) -> BaseProcess:
        process = self._context.Process(target=_worker, args=(self.config,), name="nexus-serve-worker")
        process.start()
        return process

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        logger.info("received %s, stopping the workers", signal.Signals(signum).name)
        self._stop.set()

    def _replace_dead(self) -> None:
        for index, process in enumerate(self._processes):
            if process.is_alive() or self._stop.is_set():
                continue
            if process.exitcode == STARTUP_FAILURE:
                logger.error("worker %s failed to start; stopping", process.pid)
                self.exit_code = STARTUP_FAILURE
                self._stop.set()
                return
            logger.warning("worker %s died (exit code %s); starting another", process.pid, process.exitcode)
            self._processes[index] = self._start()

    def _stop_all(self) -> None:
        for process in self._processes:
            if process.is_alive() and process.pid is not None:
                process.terminate()  # SIGTERM: uvicorn drains, the lifespan closes the audit log
        for process in self._processes:
            process.join(STOP_TIMEOUT_S)
            if process.is_alive():
                logger.error("worker %s did not stop in %.0f s; killing it", process.pid, STOP_TIMEOUT_S)
                process.kill()
                process.join()


def serve(config: uvicorn.Config) -> int:
    """Run ``config``: in this process for one worker, else under a ``Supervisor``.

    Where the system has no ``SO_REUSEPORT`` (Windows), uvicorn's own supervisor runs the
    workers on its shared socket.
    """
    if config.workers > 1 and not hasattr(socket, "SO_REUSEPORT"):
        Multiprocess(config, sockets=[config.bind_socket()]).run()  # what uvicorn.run does
        return 0
    if config.workers <= 1:
        server = uvicorn.Server(config)
        server.run()
        return 0 if server.started else STARTUP_FAILURE
    return Supervisor(config, config.workers).run()
