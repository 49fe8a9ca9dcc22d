"""The supervisor's dispatcher: connections in turn, only once every worker is up, none to a gone worker."""

from __future__ import annotations

import socket
import sys
import time

import pytest

from nexus_serving.connection_dispatch import ConnectionDispatcher, WorkerChannel, dispatch_address

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="abstract Unix sockets are Linux only")


def received(channel: WorkerChannel, count: int, timeout_s: float = 5.0) -> list[socket.socket]:
    """The connections ``channel`` is handed, waiting until ``count`` have come."""
    got: list[socket.socket] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        more = channel.receive()
        assert more is not None, "the dispatcher went away"
        got += more
        time.sleep(0.01)
    return got


def peer_ports(connections: list[socket.socket]) -> set[int]:
    return {connection.getpeername()[1] for connection in connections}


@pytest.fixture
def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock
    sock.close()


def test_connections_go_to_the_workers_in_turn_once_all_have_registered(listener):
    address = dispatch_address()
    dispatcher = ConnectionDispatcher(listener, address, workers=2)
    dispatcher.start()
    clients: list[socket.socket] = []
    try:
        first = WorkerChannel(address)
        clients.append(socket.create_connection(listener.getsockname()))
        time.sleep(0.5)
        assert first.receive() == [], "nothing is handed out while a worker is still starting"
        second = WorkerChannel(address)
        clients += [socket.create_connection(listener.getsockname()) for _ in range(3)]
        to_first, to_second = received(first, 2), received(second, 2)
        assert len(to_first) == len(to_second) == 2
        assert peer_ports(to_first) | peer_ports(to_second) == {c.getsockname()[1] for c in clients}

        second.close()  # a worker that goes away leaves the turn
        deadline = time.monotonic() + 5
        while dispatcher.workers != 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        clients += [socket.create_connection(listener.getsockname()) for _ in range(2)]
        assert len(received(first, 2)) == 2
        for connection in to_first + to_second:
            connection.close()
    finally:
        for client in clients:
            client.close()
        dispatcher.stop()


def test_a_worker_sees_the_dispatcher_go(listener):
    address = dispatch_address()
    dispatcher = ConnectionDispatcher(listener, address, workers=1)
    dispatcher.start()
    channel = WorkerChannel(address)
    deadline = time.monotonic() + 5
    while dispatcher.workers != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    dispatcher.stop()
    deadline = time.monotonic() + 5
    result: list[socket.socket] | None = []
    while result == [] and time.monotonic() < deadline:
        result = channel.receive()
        time.sleep(0.01)
    assert result is None
    channel.close()
