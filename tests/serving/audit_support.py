"""Helpers for the audit log tests: records built from real request bodies, polling, a TCP relay."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import polars as pl
from serving_support import decision_body

from nexus_serving.audit import AuditRecord
from nexus_serving.schemas import DecisionRequest, DecisionResponse

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def response_template(request_id: str = "") -> DecisionResponse:
    """A decision response to copy with a fresh ``decision_id`` (and ``request_id``) per record."""
    return DecisionResponse(
        request_id=request_id,
        decision_id="",
        action="execute",
        target_weight=0.1,
        quantity=None,
        confidence=0.5,
        predicted_return=0.001,
        volatility_forecast=0.02,
        anomaly_score=0.1,
        reasons=[],
        model_versions={"trade-nexus-predictor": "1"},
        decided_at=datetime.now(UTC),
    )


def audit_records(market: pl.DataFrame, count: int, prefix: str = "bulk") -> list[AuditRecord]:
    """``count`` records of distinct decisions with distinct request ids (``prefix-i``), sharing one
    validated request body."""
    request = DecisionRequest.model_validate_json(orjson.dumps(decision_body(market, request_id=prefix)))
    template = response_template(prefix)
    return [
        AuditRecord.of(
            request,
            template.model_copy(update={"decision_id": uuid.uuid4().hex, "request_id": f"{prefix}-{i}"}),
            "f" * 64,
            1.0,
            fingerprint=uuid.uuid4().bytes,
        )
        for i in range(count)
    ]


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class TcpRelay:
    """Forwards a local port to ``target``: a database that can be made reachable on demand."""

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.port = port
        self.target = target
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []

    def start(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        for sock in [self._listener, *self._sockets]:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        self._listener = None
        self._sockets = []

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
