"""What one decision hands to the audit log: a record, its stored row, and the promise of its storing.

A request does not answer until its decision is durable (``AuditRecord.stored``): stored in the
audit store with its request id claimed, or appended to the spool while the store is down.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import orjson

from nexus_assets.risk_store import RiskMove
from nexus_serving.audit.sinks import AuditRow, Holder
from nexus_serving.schemas import DecisionRequest, DecisionResponse

_BARS = {"bars"}
UNKNOWN_REQUEST_BYTES = 16_000
"""Size counted for a record that holds a parsed request instead of its bytes (~120 bars)."""
UNKNOWN_RESPONSE_BYTES = 2_000
RECORD_OVERHEAD_BYTES = 600
"""The record, its response object and the queue's slot, on top of the JSON it holds."""


class AuditUnavailableError(Exception):
    """The audit log could not take the decision: the request is answered 503.

    Without a ``reason``, nothing was decided (the log is full: its store and spool are not
    taking records). With one, the decision was made but not stored in time; should it be
    stored later, a retry with the same request id is answered with it.
    """

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(
            reason
            or "the decision audit log is full (its store and spool are not taking records); "
            "no decision was made, retry later"
        )


class AuditWriteError(AuditUnavailableError):
    """The decision could not be stored (the log closed with neither store nor spool taking it)."""


class _UncancellableFuture(Future):
    """A future whose result only its producer decides: a caller that stops waiting (a client
    gone, a timeout) cancels its own wait, never the record's storing."""

    def cancel(self) -> bool:
        return False


def uncancellable_future() -> Future[Any]:
    return _UncancellableFuture()


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One decision as the hot path hands it over; nothing is serialised until the writer runs.

    It keeps the request's bytes as received, not the parsed request: the request's ~700 bar
    values are then freed at once by the thread that decided, with warm caches, rather than
    10 ms later by the writer holding the GIL (measured: 6% more decisions per second at
    concurrency 8, in five interleaved pairs).
    """

    symbol: str
    response: DecisionResponse
    features_hash: str
    latency_ms: float
    request: bytes | DecisionRequest
    """The body as received, stored as is; a parsed request (serialised by the writer) only when there are no bytes."""
    response_json: bytes | None = None
    """The response as sent, when the caller encoded it already."""
    fingerprint: bytes = b""
    """The request's fingerprint (``idempotency.request_fingerprint``), kept with its claim on the id."""
    risk: RiskMove | None = None
    """What the decision changes in the shared risk state: stored in its audit row's transaction."""
    window: bytes = b""
    """The content address of the request's bars (``RequestBars.window_digest``); empty: the
    stored request keeps its bars."""
    request_rest: bytes | None = None
    """The request without its bars, as JSON: what the audit row stores beside the window's address."""
    stored: Future[Holder | None] = field(default_factory=uncancellable_future, compare=False)
    """Settled by the writer: None once the decision is durable, the ``Holder`` when another
    decision holds its request id (this one is then not stored), or ``AuditWriteError``."""

    @classmethod
    def of(
        cls,
        request: DecisionRequest,
        response: DecisionResponse,
        features_hash: str,
        latency_ms: float,
        request_json: bytes | None = None,
        response_json: bytes | None = None,
        fingerprint: bytes = b"",
        risk: RiskMove | None = None,
        window: bytes = b"",
    ) -> AuditRecord:
        """The record of ``request``, holding its received bytes instead of it when there are any,
        and, with a ``window``, the rest of the request without its bars (a few microseconds)."""
        held = request if request_json is None else request_json
        rest = (
            request.__pydantic_serializer__.to_json(request, exclude=_BARS, exclude_unset=True)
            if window
            else None
        )
        return cls(
            request.signal.symbol, response, features_hash, latency_ms, held, response_json, fingerprint, risk,
            window, rest,
        )  # fmt: skip

    @property
    def size(self) -> int:
        """Bytes this record holds, for the queue's bound."""
        request = len(self.request) if isinstance(self.request, bytes) else UNKNOWN_REQUEST_BYTES
        response = UNKNOWN_RESPONSE_BYTES if self.response_json is None else len(self.response_json)
        return request + response + RECORD_OVERHEAD_BYTES


def to_row(record: AuditRecord, with_window: bool = True) -> AuditRow:
    """The record as stored; JSON bytes already in hand are reused, so the writer rarely serialises.

    Serialising 120 bars takes hundreds of microseconds of GIL-holding CPU that the request
    threads would otherwise wait for. With a window address, the row holds the request without
    its bars, and the bars themselves only ``with_window`` (the writer has not stored them yet).
    """
    response = record.response
    window_json: str | None = None
    if record.window and record.request_rest is not None:
        request_json = record.request_rest.decode()
        if with_window:
            window_json = _bars_json(record.request)
    elif isinstance(record.request, bytes):
        request_json = record.request.decode()
    else:  # only the fields the caller sent, so the stored request reads like the one received
        request_json = orjson.dumps(record.request.model_dump(mode="json", exclude_unset=True)).decode()
    if record.response_json is not None:
        response_json = record.response_json.decode()
    else:
        response_json = response.__pydantic_serializer__.to_json(response).decode()
    return (
        response.decision_id,
        response.request_id,
        response.decided_at,
        record.symbol,
        response.action,
        orjson.dumps(response.model_versions).decode(),
        record.features_hash,
        record.latency_ms,
        request_json,
        response_json,
        record.fingerprint.hex(),
        record.risk,
        record.window.hex(),
        window_json,
    )


def _bars_json(request: bytes | DecisionRequest) -> str:
    """The request's ``bars`` as received (from its bytes), or as parsed."""
    if isinstance(request, bytes):
        return orjson.dumps(orjson.loads(request)["bars"]).decode()
    return request.bars.__pydantic_serializer__.to_json(request.bars, exclude_unset=True).decode()
