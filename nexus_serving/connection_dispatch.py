"""Connections handed to the workers in turn, so a few keep-alive clients spread evenly.

The supervisor accepts every connection on the service's port and passes its file descriptor
to the next ready worker (``SCM_RIGHTS`` over a Unix socket), as Node's cluster module does.
The kernel's own spreading, ``SO_REUSEPORT``, hashes each connection to a worker: a client
with eight keep-alive connections lands 5/3 or 6/2 on two workers more often than 4/4, and the
busier worker caps throughput while the other idles. Workers register when their app has
started, so nothing is handed to a worker still loading models, and the first connection is
accepted once every worker has registered: keep-alive clients that connect as soon as the
service answers would otherwise all stay on the first worker up. A worker that goes away is
dropped from the turn; its replacement joins when it registers.
"""

from __future__ import annotations

import logging
import os
import selectors
import socket
import threading
import uuid
from collections.abc import Callable

logger = logging.getLogger("uvicorn.error")

_NOTE = b"c"
"""The one-byte message each passed descriptor travels with."""


def dispatch_address() -> str:
    """A fresh abstract Unix socket name (Linux): nothing on disk to clean up, private to this host."""
    return f"\0nexus-serve-{os.getpid()}-{uuid.uuid4().hex}"


class ConnectionDispatcher:
    """Accepts on ``listener`` and passes each connection to the registered workers in turn."""

    def __init__(self, listener: socket.socket, address: str, workers: int) -> None:
        self._listener = listener
        self._expected = workers
        self._accepting = False
        self._listener.setblocking(False)
        self._registry = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._registry.bind(address)
        self._registry.listen()
        self._registry.setblocking(False)
        self._workers: list[socket.socket] = []
        self._turn = 0
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._registry, selectors.EVENT_READ, self._register_worker)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="connection-dispatch", daemon=True)

    @property
    def workers(self) -> int:
        return len(self._workers)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Accept nothing more; connections already handed over stay with their workers."""
        self._stop.set()
        self._thread.join(5.0)
        for channel in self._workers:
            channel.close()
        self._registry.close()
        self._selector.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.2):
                handler: Callable[[socket.socket], None] = key.data
                handler(key.fileobj)  # type: ignore[arg-type]

    def _register_worker(self, registry: socket.socket) -> None:
        try:
            channel, _ = registry.accept()
        except BlockingIOError:
            return
        self._workers.append(channel)
        self._selector.register(channel, selectors.EVENT_READ, self._drop_worker)
        if not self._accepting and len(self._workers) >= self._expected:
            self._selector.register(self._listener, selectors.EVENT_READ, self._accept)
            self._accepting = True
            self._expected = 1  # from now on one worker is enough to serve

    def _drop_worker(self, channel: socket.socket) -> None:
        """A worker's channel became readable: it only ever closes (the worker stopped or died)."""
        self._selector.unregister(channel)
        self._workers.remove(channel)
        channel.close()
        if not self._workers and self._accepting:  # connections wait in the backlog for a worker
            self._selector.unregister(self._listener)
            self._accepting = False

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:  # e.g. out of file descriptors: keep serving those we have
                logger.warning("accept failed: %s", exc)
                return
            with connection:
                self._hand_over(connection)

    def _hand_over(self, connection: socket.socket) -> None:
        """Pass ``connection`` to the next worker; a worker that cannot take it is skipped."""
        for _ in range(len(self._workers)):
            channel = self._workers[self._turn % len(self._workers)]
            self._turn += 1
            try:
                socket.send_fds(channel, [_NOTE], [connection.fileno()])
                return
            except OSError as exc:
                logger.warning("a worker could not take a connection (%s); trying the next", exc)
        logger.error("no worker could take a connection; closed it")


class WorkerChannel:
    """A worker's end: registers with the dispatcher and yields the connections passed to it."""

    def __init__(self, address: str) -> None:
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._socket.connect(address)
        self._socket.setblocking(False)

    def fileno(self) -> int:
        return self._socket.fileno()

    def receive(self) -> list[socket.socket] | None:
        """The connections waiting; None once the dispatcher has gone (the supervisor stopped)."""
        connections: list[socket.socket] = []
        while True:
            try:
                message, fds, _, _ = socket.recv_fds(self._socket, len(_NOTE), 1)
            except BlockingIOError:
                return connections
            except OSError:  # the channel broke: as good as closed
                message, fds = b"", []
            if not message and not fds:
                for connection in connections:
                    connection.close()
                return None
            connections += [socket.socket(fileno=fd) for fd in fds]

    def close(self) -> None:
        self._socket.close()
