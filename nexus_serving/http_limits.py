"""uvicorn's httptools protocol with the two bounds on a request head that uvicorn lacks.

uvicorn times out only idle keep-alive connections: a client that opens a connection and
dribbles its request line and headers holds it, and the parser's buffer, for as long as it
likes, and no header size is enforced. Here a request head must arrive within
``head_timeout_s`` of the connection (or of its first byte, for later requests on a kept-alive
connection), else 408, and may not exceed ``max_head_bytes``, else 431; either closes the
connection. Everything else is uvicorn's own protocol, pinned to the uvicorn release it was
written against (``pyproject.toml``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_MAX_HEAD_BYTES = 32 * 1024
DEFAULT_HEAD_TIMEOUT_S = 10.0


class HeadTooLargeError(Exception):
    """Raised in a parser callback to stop parsing a head that has been refused."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(
        self,
        *args: Any,
        max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES,
        head_timeout_s: float = DEFAULT_HEAD_TIMEOUT_S,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.max_head_bytes = max_head_bytes
        self.head_timeout_s = head_timeout_s
        self._head_pending = True
        self._head_bytes = 0
        self._head_size = 0
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_pending:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._head_pending and self._head_bytes > self.max_head_bytes and not self.transport.is_closing():
            self._refuse(431, b"Request Header Fields Too Large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_size = 0
        if self._head_timer is None:
            self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_pending = False
        self._cancel_head_timer()
        if self._head_size > self.max_head_bytes:  # the whole head came in one read
            self._refuse(431, b"Request Header Fields Too Large")
            raise HeadTooLargeError  # stops the parser; uvicorn then finds the transport closed
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_pending = True  # the next request's head, whose first byte arms the timer
        self._head_bytes = 0

    def send_400_response(self, msg: str) -> None:
        if not self.transport.is_closing():  # a refusal here has answered already
            super().send_400_response(msg)

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._head_pending and not self.transport.is_closing():
            self._refuse(408, b"Request Timeout")

    def _refuse(self, status: int, reason: bytes) -> None:
        self._cancel_head_timer()
        message = reason + b"\n"
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, reason, len(message), message)
        )
        self.transport.close()
