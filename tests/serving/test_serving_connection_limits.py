"""Clients without a token, or too slow, or too large, cannot hold a worker's memory or connections.

Over real sockets: each test writes raw HTTP/1.1, so a head or body can stop half-way.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from serving_support import TOKEN, serve, settings_for

BATCH_HEAD = (
    b"POST /v1/decisions/batch HTTP/1.1\r\nHost: nexus\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n"
)


@pytest.fixture(scope="module")
def limited(trained_registry, tmp_path_factory) -> Iterator[tuple[str, int]]:
    """The service with short timeouts and a small connection bound; yields (host, port)."""
    root = tmp_path_factory.mktemp("limited")
    settings = settings_for(
        trained_registry,
        root / "cache",
        audit_enabled=False,
        head_timeout_s=0.5,
        body_timeout_s=0.5,
        max_head_bytes=4096,
        max_connections=20,
    )
    with serve(settings) as client:
        address = urlsplit(str(client.base_url))
        yield address.hostname, address.port


@contextmanager
def connection(address: tuple[str, int]) -> Iterator[socket.socket]:
    with socket.create_connection(address, timeout=5) as sock:
        yield sock


def answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or 5 s pass)."""
    received = b""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        received += chunk
        if b"\r\n\r\n" in received and b"connection: close" not in received.lower():
            break
    return received


def test_a_chunked_body_without_a_token_is_refused_before_it_is_read(limited):
    with connection(limited) as sock:
        sock.sendall(BATCH_HEAD + b"\r\n" + b"400\r\n" + b" " * 1024 + b"\r\n")  # and never the end
        started = time.monotonic()
        reply = answer(sock)
    assert reply.startswith(b"HTTP/1.1 401 "), reply[:200]
    assert time.monotonic() - started < 0.4  # at once, not when the body deadline passes


def test_a_body_that_does_not_arrive_in_time_is_408(limited):
    with connection(limited) as sock:
        head = BATCH_HEAD + f"Authorization: Bearer {TOKEN}\r\n\r\n".encode()
        sock.sendall(head + b"10\r\n" + b'{"requests": [  ' + b"\r\n")
        reply = answer(sock)
    assert reply.startswith(b"HTTP/1.1 408 "), reply[:200]
    assert b"not received within 0.5 s" in reply
    assert b"connection: close" in reply.lower()


def test_a_head_that_does_not_arrive_in_time_is_408_and_closed(limited):
    with connection(limited) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: nexus\r\n")  # and never the blank line
        started = time.monotonic()
        reply = answer(sock)
        assert reply.startswith(b"HTTP/1.1 408 "), reply[:200]
        assert 0.3 < time.monotonic() - started < 3
        assert sock.recv(10) == b""  # closed
    with connection(limited) as idle:  # a connection that sends nothing at all is closed too
        assert answer(idle).startswith(b"HTTP/1.1 408 ")


def test_a_head_over_the_limit_is_431_and_closed(limited):
    with connection(limited) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: nexus\r\nX-Padding: " + b"a" * 8192 + b"\r\n\r\n")
        reply = answer(sock)
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:200]
    with connection(limited) as sock:  # dribbled without an end, the head is refused once it is too long
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: nexus\r\nX-Padding: ")
        for _ in range(5):  # the fifth kilobyte passes the limit; nothing is sent after it
            time.sleep(0.05)
            sock.sendall(b"a" * 1024)
        assert answer(sock).startswith(b"HTTP/1.1 431 ")


def test_a_kept_alive_connection_gets_a_fresh_head_deadline(limited):
    with connection(limited) as sock:
        for _ in range(3):
            time.sleep(0.3)  # under the keep-alive timeout, adding up past one head deadline
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: nexus\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")


def test_connections_past_the_bound_get_503_and_the_rest_are_answered(limited):
    held = [socket.create_connection(limited, timeout=5) for _ in range(25)]
    try:
        answered = []
        for sock in held:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: nexus\r\n\r\n")
        for sock in held:
            answered.append(sock.recv(4096).split(b" ", 2)[1])
        assert set(answered) <= {b"200", b"503"}
        assert answered.count(b"503") >= 5
    finally:
        for sock in held:
            sock.close()
    with connection(limited) as sock:  # once they are gone, a new client is served
        time.sleep(0.2)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: nexus\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
