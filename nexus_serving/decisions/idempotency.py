"""Idempotent decisions: a repeated ``request_id`` gets the stored response, never a new decision.

Each stored response keeps a fingerprint of the request that produced it, so a client that
reuses an id for a different request is told (409) instead of silently receiving a decision
made for other inputs.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import orjson

from nexus_assets.ml.anomaly.bar_window import epoch_us
from nexus_serving.decisions.request_bars import BAR_COLUMN_NAMES, RequestBars, request_bars
from nexus_serving.schemas import DecisionRequest


class IdempotencyConflictError(Exception):
    """``request_id`` was already used for a request with a different body."""

    def __init__(self, request_id: str, loc: tuple[str | int, ...] = ("body", "request_id")) -> None:
        super().__init__(f"request_id {request_id!r} was already used for a different request")
        self.request_id = request_id
        self.loc = loc


def request_fingerprint(request: DecisionRequest, bars: RequestBars | None = None) -> bytes:
    """A digest of the validated request, so formatting differences of the same JSON do not matter.

    The bar columns are hashed as the NumPy arrays the engine reads (``bars``, computed here when
    not given), the few other fields as pydantic's canonical JSON: serialising 120 timestamps and
    600 floats to text only to hash them costs ~10x more. Bar timestamps count as instants (epoch
    microseconds), so the same bars written in another time zone are the same request.
    """
    bars = request_bars(request) if bars is None else bars
    digest = hashlib.blake2b(digest_size=16)
    # JSON values delimit themselves, and every column has ``height`` fixed-width entries.
    digest.update(orjson.dumps([request.request_id, request.bars.symbol, bars.height]))
    digest.update(request.signal.__pydantic_serializer__.to_json(request.signal))
    portfolio = request.portfolio
    digest.update(b"null" if portfolio is None else portfolio.__pydantic_serializer__.to_json(portfolio))
    for name in BAR_COLUMN_NAMES:
        digest.update(bars.columns[name])
    if request.recent_signals is not None:
        # Absent, the digest is what it was before the field existed: stored ids keep their answers.
        digest.update(
            orjson.dumps(
                [
                    [s.strategy_id, s.side, s.strength, epoch_us(s.timestamp, field="recent_signals")]
                    for s in request.recent_signals
                ]
            )
        )
    return digest.digest()


class ResponseStore:
    """Bounded LRU of encoded responses by request_id; the oldest are forgotten first.

    Responses are kept as their JSON bytes, which the garbage collector does not track: as
    models, a full store would be a million tracked objects, and every full collection would
    walk them all while the service stalls (about 0.1 s each, measured).
    """

    def __init__(self, capacity: int) -> None:
        self._items: OrderedDict[str, tuple[bytes, bytes]] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, request: DecisionRequest, fingerprint: bytes | None = None) -> bytes | None:
        """The stored response for this request; raises IdempotencyConflictError if the id was used otherwise."""
        with self._lock:
            found = self._items.get(request.request_id)
            if found is not None:
                self._items.move_to_end(request.request_id)
        if found is None:
            return None
        if found[0] != (fingerprint or request_fingerprint(request)):
            raise IdempotencyConflictError(request.request_id)
        return found[1]

    def put(self, request_id: str, fingerprint: bytes, response_json: bytes) -> bytes:
        """Store ``response_json`` unless the id is already stored; return the stored one."""
        with self._lock:
            existing = self._items.get(request_id)
            if existing is not None:
                return existing[1]
            self._items[request_id] = (fingerprint, response_json)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
            return response_json
