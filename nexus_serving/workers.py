"""Worker processes served by one supervisor, which spreads connections over them evenly.

The supervisor binds and listens on the port itself and hands every accepted connection to
the workers in turn (``connection_dispatch``). uvicorn's own workers share one listening socket,
and the worker that wakes first accepts a whole burst: measured with 2 workers and 8
connections, every connection on one worker. ``SO_REUSEPORT`` sockets fare better but still hash
8 connections 5/3 or 6/2 more often than 4/4. A port in use fails at once (another
``nexus serve`` included), and port 0 resolves to one port for every worker.

The supervisor restarts a worker that dies after start-up, stops everything when one fails to
start (a broken app or setting fails the same way every time), and forwards SIGINT/SIGTERM so
each worker drains its requests and closes its audit log.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import signal
import socket
import sys
import threading
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from nexus_serving.connection_dispatch import ConnectionDispatcher, WorkerChannel, dispatch_address

logger = logging.getLogger("uvicorn.error")
STOP_TIMEOUT_S = 30.0
"""How long a worker may take to drain after SIGTERM before it is killed."""


def _family(host: str) -> socket.AddressFamily:
    """IPv6 for an address with a colon, as uvicorn decides."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _listen(host: str, port: int, backlog: int) -> socket.socket:
    """The service's listening socket (``SO_REUSEADDR`` so a restart need not wait for TIME_WAIT)."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


class DispatchedServer(uvicorn.Server):
    """uvicorn's server on the connections the supervisor passes, instead of a socket of its own.

    It registers with the supervisor once its app has started (models loaded), and stops when
    the supervisor goes away.
    """

    def __init__(self, config: uvicorn.Config, address: str) -> None:
        super().__init__(config)
        self._address = address
        self._channel: WorkerChannel | None = None
        self._connecting: set[asyncio.Task[object]] = set()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])
        loop = asyncio.get_running_loop()
        # What uvicorn's own server builds for each connection.
        protocol = functools.partial(
            self.config.http_protocol_class,
            config=self.config,
            server_state=self.server_state,
            app_state=self.lifespan.state,
        )
        channel = WorkerChannel(self._address)

        def take_connections() -> None:
            connections = channel.receive()
            if connections is None:
                logger.warning("the supervisor has gone; stopping")
                loop.remove_reader(channel.fileno())
                self.should_exit = True
                return
            for connection in connections:
                # As on the sockets a listening server accepts: a response is never held for an ACK.
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                task = loop.create_task(
                    loop.connect_accepted_socket(protocol, connection, ssl=self.config.ssl)
                )
                self._connecting.add(task)
                task.add_done_callback(self._connecting.discard)

        loop.add_reader(channel.fileno(), take_connections)
        self._channel = channel

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._channel is not None:  # take no more connections, then drain the ones held
            asyncio.get_running_loop().remove_reader(self._channel.fileno())
            self._channel.close()
            self._channel = None
        await super().shutdown(sockets=sockets)


def _worker(config: uvicorn.Config, address: str) -> None:
    """One worker process: uvicorn's server loop on the connections the supervisor passes."""
    config.configure_logging()
    server = DispatchedServer(config, address)
    server.run()
    if not server.started:  # the app failed to start (lifespan, settings): say so to the supervisor
        raise SystemExit(STARTUP_FAILURE)


class Supervisor:
    def __init__(self, config: uvicorn.Config, workers: int) -> None:
        self.config = config
        self.workers = workers
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[BaseProcess] = []
        self._stop = threading.Event()
        self._address = dispatch_address()
        self.exit_code = 0

    def run(self) -> int:
        """Serve until SIGINT/SIGTERM, or until a worker fails to start; returns the exit code."""
        try:
            listener = _listen(self.config.host, self.config.port, self.config.backlog)
        except OSError as exc:
            logger.error("cannot listen on %s:%d: %s", self.config.host, self.config.port, exc)
            return STARTUP_FAILURE
        with listener:
            self.config.port = listener.getsockname()[1]
            dispatcher = ConnectionDispatcher(listener, self._address, self.workers)
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self._on_signal)
            logger.info(
                "serving on http://%s:%d with %d workers, connections handed out in turn",
                self.config.host, self.config.port, self.workers,
            )  # fmt: skip
            dispatcher.start()
            self._processes = [self._start() for _ in range(self.workers)]
            while not self._stop.wait(0.5):
                self._replace_dead()
            dispatcher.stop()
            self._stop_all()
        return self.exit_code

    def _start(self) -> BaseProcess:
        process = self._context.Process(
            target=_worker, args=(self.config, self._address), name="nexus-serve-worker"
        )
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

    Where descriptors cannot be passed to an abstract Unix socket (anything but Linux),
    uvicorn's own supervisor runs the workers on its shared socket.
    """
    if config.workers > 1 and not sys.platform.startswith("linux"):
        Multiprocess(config, sockets=[config.bind_socket()]).run()  # what uvicorn.run does
        return 0
    if config.workers <= 1:
        server = uvicorn.Server(config)
        server.run()
        return 0 if server.started else STARTUP_FAILURE
    return Supervisor(config, config.workers).run()
