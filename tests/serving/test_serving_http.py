"""HTTP behaviour any client relies on, over a real uvicorn server: HEAD, keep-alive, whole answers."""

from __future__ import annotations

import socket

import httpx
from serving_support import AUTH


def test_head_requests_and_keep_alive_work_over_real_http(client):
    """A HEAD answer declares a length but has no body write: its head must still go out at once."""
    head = client.head("/health", timeout=5)  # the GET-only route answers 405, with a length
    assert head.status_code == 405 and int(head.headers["content-length"]) > 0 and head.content == b""
    assert client.get("/health").json() == {"status": "ok"}  # same keep-alive connection


def test_a_response_arrives_whole_on_a_raw_socket(client):
    """A held head is sent with its body: the whole answer reaches a plain socket, length as declared."""
    url = httpx.URL(str(client.base_url))
    with socket.create_connection((url.host, url.port), timeout=5) as raw:
        raw.sendall(
            b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: "
            + AUTH["Authorization"].encode()
            + b"\r\n\r\n"
        )
        received = b""
        while b"\r\n\r\n" not in received:
            received += raw.recv(65536)
        head, _, body = received.partition(b"\r\n\r\n")
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        while len(body) < length:
            body += raw.recv(65536)
        assert head.startswith(b"HTTP/1.1 200") and b'"models"' in body
