"""Many decision requests in one pass: stored answers, model views, then the policy in order.

Both decision routes come here: the single route with what the micro-batcher gathered, the
batch route with its whole body. Each step runs over every request before the next step, so
its code stays warm in the CPU caches and the predictor runs once; per request this costs
about a fifth less than deciding the requests one by one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from typing import TYPE_CHECKING

from nexus_serving.audit import AuditRecord
from nexus_serving.decision_engine import (
    InvalidInputError,
    ModelView,
    RequestBars,
    decide_with_view,
    model_views,
    prepare,
    request_bars,
)
from nexus_serving.idempotency import IdempotencyConflictError, request_fingerprint
from nexus_serving.model_store import ModelBundle
from nexus_serving.news_context import NewsSnapshot
from nexus_serving.schemas import DecisionRequest

if TYPE_CHECKING:
    from nexus_serving.services import Services

MICRO_BATCH_MAX = 32
"""Most single requests decided in one pass; more arrivals wait for the next (about 10 ms of work)."""
RequestError = InvalidInputError | IdempotencyConflictError
"""What a request can be answered with instead of a decision (4xx naming the field)."""
Fresh = tuple[int, RequestBars, bytes]
"""A request to decide: its index, its checked bars, its fingerprint."""


@dataclass(slots=True)
class PendingDecision:
    request: DecisionRequest
    bundle: ModelBundle
    """The bundle read when the request was admitted: one request never mixes versions."""
    raw: bytes | None = None
    """The body as received, for the audit log."""
    bars: RequestBars | None = None
    """The request's bars when the caller has checked them already."""
    received: float = field(default_factory=time.perf_counter)


def decide_all(
    services: Services, pending: Sequence[PendingDecision], *, atomic: bool = False
) -> list[bytes | RequestError]:
    """Each request's answer as JSON, in order: the stored one for a repeated id, else a new decision.

    A new decision is encoded once: the same bytes answer the client, are kept for repeats and
    go to the audit log. A request repeating the id of an earlier one in ``pending`` gets that
    one's answer. With ``atomic``, one failing request means no decision at all is made.
    """
    results: list[bytes | RequestError | None] = [None] * len(pending)
    fresh: list[Fresh] = []
    first_by_id: dict[str, tuple[int, bytes]] = {}
    repeats: list[tuple[int, int]] = []
    for index, item in enumerate(pending):
        try:
            bars = item.bars if item.bars is not None else request_bars(item.request)
            fingerprint = request_fingerprint(item.request, bars)
            earlier = first_by_id.setdefault(item.request.request_id, (index, fingerprint))
            if earlier[0] != index:
                if earlier[1] != fingerprint:
                    raise IdempotencyConflictError(item.request.request_id)
                repeats.append((index, earlier[0]))
                continue
            stored = services.responses.get(item.request, fingerprint)
            if stored is not None:
                results[index] = stored
            else:
                fresh.append((index, prepare(item.request, item.bundle, bars), fingerprint))
        except (InvalidInputError, IdempotencyConflictError) as exc:
            results[index] = exc
    now = datetime.now(UTC)
    views = _views(pending, fresh, now)
    for (index, _, _), view in zip(fresh, views, strict=True):
        if isinstance(view, InvalidInputError):
            results[index] = view
    if fresh and not (atomic and any(isinstance(r, Exception) for r in results)):
        news = services.news.snapshot()
        for (index, bars, fingerprint), view in zip(fresh, views, strict=True):
            if not isinstance(view, InvalidInputError):
                results[index] = _decided(services, pending[index], bars, view, fingerprint, now, news)
    for index, earlier in repeats:
        results[index] = results[earlier]
    # Every index is filled above, except fresh requests an atomic pass left undecided
    # because another failed: the caller raises that failure and never reads them.
    return results  # type: ignore[return-value]


def _views(
    pending: Sequence[PendingDecision], fresh: Sequence[Fresh], now: datetime
) -> list[ModelView | InvalidInputError]:
    """Model views of the fresh requests, one ``model_views`` call per bundle (a swap may split a batch)."""
    views: list[ModelView | InvalidInputError] = []
    for _, group in groupby(fresh, key=lambda entry: id(pending[entry[0]].bundle)):
        members = list(group)
        bundle = pending[members[0][0]].bundle
        views += model_views(bundle, [(pending[index].request, bars) for index, bars, _ in members], now)
    return views


def _decided(
    services: Services,
    item: PendingDecision,
    bars: RequestBars,
    view: ModelView,
    fingerprint: bytes,
    now: datetime,
    news: NewsSnapshot,
) -> bytes:
    request = item.request
    signal = request.signal
    inputs = news.inputs(signal.symbol, request.bars.timestamp[-1], signal.strategy_id)
    outcome = decide_with_view(
        request, bars, view, item.bundle, services.latches, services.engine, now, inputs
    )
    response = outcome.response
    services.metrics.decisions.labels(response.action).inc()
    encoded = response.__pydantic_serializer__.to_json(response)
    stored = services.responses.put(request.request_id, fingerprint, encoded)
    if stored is not encoded:  # a concurrent twin won; its response was audited when made
        return stored
    if services.audit is not None:
        latency_ms = (time.perf_counter() - item.received) * 1000.0
        services.audit.record(
            AuditRecord.of(request, response, outcome.features_hash, latency_ms, item.raw, encoded)
        )
    return encoded
