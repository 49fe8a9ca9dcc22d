"""uvicorn's httptools protocol, sending each response in one write and telling the app its load.

uvicorn writes the status line and headers when the app sends ``http.response.start`` and
the body on ``http.response.body``: two ``send`` system calls and two TCP segments for every
decision, and a second wake-up of the client reading it. Here the transport holds back the
head of a response that declares its length, and sends it with the next write, the body,
which the app sends in the same step of the same task. A head no write follows (the answer to
a HEAD request) goes out when the response completes. A response of unknown length
(streamed) is written as it comes.

Each request's ``scope["state"]`` also holds, under ``IN_FLIGHT``, the set of this worker's
running requests, the ones whose headers have arrived included: the decision route batches
only when it is not alone (``micro_batch``).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

IN_FLIGHT = "nexus.in_flight"
"""Key of the running requests' set in ``scope["state"]``; absent under another server."""

_SIZED_HEAD = re.compile(rb"\r\ncontent-length: *[0-9]+\r\n", re.IGNORECASE)


def is_sized_head(data: bytes) -> bool:
    """Whether ``data`` is a whole response head (status line to blank line) with a Content-Length."""
    return data.startswith(b"HTTP/") and data.endswith(b"\r\n\r\n") and _SIZED_HEAD.search(data) is not None


class HeadCoalescingTransport:
    """A transport proxy: a sized response head waits for the next write and goes out with it."""

    __slots__ = ("_held", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif is_sized_head(data):
            self._held = data
        else:
            self._transport.write(data)

    def flush(self) -> None:
        """Send a head still held (its response completed without a body write)."""
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class ServiceHttpProtocol(HttpToolsProtocol):
    """``uvicorn.Config(http=...)``: uvicorn's protocol on a head-coalescing transport."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, {**app_state, IN_FLIGHT: server_state.tasks}, _loop)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(HeadCoalescingTransport(transport))  # type: ignore[arg-type]

    def on_response_complete(self) -> None:
        self.transport.flush()  # type: ignore[attr-defined]
        super().on_response_complete()
