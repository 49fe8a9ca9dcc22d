"""One write per response: the head waits for the body; streamed and body-less answers are not held."""

from __future__ import annotations

import asyncio
import socket

import httpx
from serving_support import AUTH
from uvicorn.server import ServerState

from nexus_serving.http_protocol import IN_FLIGHT, HeadCoalescingTransport, ServiceHttpProtocol, is_sized_head
from nexus_serving.server_config import server_config

SIZED = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n"
CHUNKED = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"


class RecordingTransport:
    """Stands in for the socket transport (the OS boundary): records what would be sent."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def test_a_sized_head_goes_out_with_its_body_in_one_write():
    sent = RecordingTransport()
    transport = HeadCoalescingTransport(sent)  # type: ignore[arg-type]
    transport.write(SIZED)
    assert sent.writes == []
    assert transport.get_write_buffer_size() == len(SIZED)
    transport.write(b"{}")
    assert sent.writes == [SIZED + b"{}"]
    transport.write(b"next")  # nothing held: straight through
    assert sent.writes[-1] == b"next"


def test_a_streamed_head_is_not_held():
    sent = RecordingTransport()
    HeadCoalescingTransport(sent).write(CHUNKED)  # type: ignore[arg-type]
    assert sent.writes == [CHUNKED]


def test_a_head_without_a_body_write_is_flushed_and_close_flushes_first():
    sent = RecordingTransport()
    transport = HeadCoalescingTransport(sent)  # type: ignore[arg-type]
    transport.write(SIZED)
    transport.flush()
    assert sent.writes == [SIZED]
    transport.write(SIZED)
    transport.close()
    assert sent.writes == [SIZED, SIZED] and sent.closed
    assert transport.get_extra_info("peername") == "info:peername"


def test_only_whole_heads_with_a_length_count_as_sized():
    assert is_sized_head(SIZED)
    assert is_sized_head(SIZED.replace(b"content-length", b"Content-Length"))
    assert not is_sized_head(CHUNKED)
    assert not is_sized_head(b"content-length: 2\r\n\r\n")  # no status line
    assert not is_sized_head(SIZED[:-2])  # head not complete


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


def test_every_request_sees_the_workers_running_requests():
    """The protocol puts uvicorn's set of running request tasks in each request's state."""

    async def build() -> tuple[ServiceHttpProtocol, ServerState, dict]:
        state = ServerState()
        lifespan_state: dict = {"kept": 1}
        config = server_config(lambda scope, receive, send: None, host="127.0.0.1", port=0)
        return ServiceHttpProtocol(config, state, lifespan_state), state, lifespan_state

    protocol, state, lifespan_state = asyncio.run(build())
    assert protocol.app_state[IN_FLIGHT] is state.tasks
    assert protocol.app_state["kept"] == 1 and IN_FLIGHT not in lifespan_state
