"""POST /v1/decisions and its batch form; the decision itself is ``decision_engine``'s."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from nexus_serving import error_responses
from nexus_serving.audit import AuditRecord
from nexus_serving.auth import check_bearer
from nexus_serving.decision_engine import (
    InvalidInputError,
    RequestBars,
    decide_request,
    prepare,
    request_bars,
)
from nexus_serving.deps import current_bundle
from nexus_serving.idempotency import IdempotencyConflictError, request_fingerprint
from nexus_serving.model_store import ModelBundle
from nexus_serving.responses import JSON_MEDIA_TYPE, parse_json_body
from nexus_serving.schemas import BatchRequest, BatchResponse, DecisionRequest, DecisionResponse
from nexus_serving.services import Services

router = APIRouter(
    prefix="/v1/decisions",
    tags=["decisions"],
    responses=error_responses.AUTH
    | error_responses.JSON_BODY
    | error_responses.CONFLICT
    | error_responses.NO_MODELS,
)


def _body(model: str) -> dict:
    """The JSON body a route reads itself, documented as FastAPI documents a model parameter."""
    schema = {"$ref": f"#/components/schemas/{model}"}
    return {"requestBody": {"content": {"application/json": {"schema": schema}}, "required": True}}


def _decide(
    services: Services,
    bundle: ModelBundle,
    request: DecisionRequest,
    bars: RequestBars | None = None,
    raw: bytes | None = None,
) -> bytes:
    """The decision for ``request`` as JSON: the stored one for a repeated id, else a new one.

    A new decision is encoded once: the same bytes answer the client, are kept for repeats and
    go to the audit log (with the ``raw`` request body when given), so the writer thread
    serialises nothing.
    """
    start = time.perf_counter()
    bars = request_bars(request) if bars is None else bars
    fingerprint = request_fingerprint(request, bars)
    stored = services.responses.get(request, fingerprint)
    if stored is not None:
        return stored
    signal = request.signal
    news = services.news.inputs(signal.symbol, request.bars.timestamp[-1], signal.strategy_id)
    outcome = decide_request(
        request, bundle, services.latches, services.engine, datetime.now(UTC), bars, news
    )
    response = outcome.response
    services.metrics.decisions.labels(response.action).inc()
    encoded = response.__pydantic_serializer__.to_json(response)
    stored = services.responses.put(request.request_id, fingerprint, encoded)
    if stored is not encoded:  # a concurrent twin won; its response was audited when made
        return stored
    if services.audit is not None:
        latency_ms = (time.perf_counter() - start) * 1000.0
        services.audit.record(AuditRecord(request, response, outcome.features_hash, latency_ms, raw, encoded))
    return encoded


def _admitted(request: Request) -> tuple[Services, ModelBundle]:
    """The services and the bundle for a caller with a valid token (401/403 first, then 503)."""
    services: Services = request.app.state.services
    check_bearer(request.headers.get("authorization"), services.settings.tokens)
    return services, current_bundle(services)


@router.post("", response_model=DecisionResponse, openapi_extra=_body("DecisionRequest"))
async def create_decision(request: Request) -> Response:
    """One decision; a repeated request_id returns the stored decision, not a new one.

    Reads its own token, bundle and body instead of declaring them as FastAPI dependencies: a
    decision is a few hundred microseconds of CPU, and dependency resolution plus a Python
    round trip of the body would add about as much again. ``async`` for the same reason: a
    hop to the thread pool and back costs more than the decision.
    """
    services, bundle = _admitted(request)
    raw = await request.body()
    body = parse_json_body(DecisionRequest, raw, request.headers.get("content-type"))
    return Response(_decide(services, bundle, body, raw=raw), media_type=JSON_MEDIA_TYPE)


@router.post("/batch", response_model=BatchResponse, openapi_extra=_body("BatchRequest"))
async def create_decisions(request: Request) -> Response:
    """Many decisions in order; every item is checked before any is decided.

    The body is validated from its JSON text like a single decision's (strict timestamps are
    text only in JSON); the decisions then run in the thread pool, so a large batch does not
    hold the event loop.
    """
    services, bundle = _admitted(request)
    body = parse_json_body(BatchRequest, await request.body(), request.headers.get("content-type"))
    return await run_in_threadpool(_decide_batch, services, bundle, body)


def _decide_batch(services: Services, bundle: ModelBundle, body: BatchRequest) -> Response:
    limit = services.settings.max_batch
    if len(body.requests) > limit:
        raise InvalidInputError(
            ("body", "requests"), f"at most {limit} requests per batch, got {len(body.requests)}"
        )
    prepared: list[RequestBars] = []
    seen: dict[str, bytes] = {}
    for index, request in enumerate(body.requests):
        try:
            bars = request_bars(request)
            fingerprint = request_fingerprint(request, bars)
            if seen.setdefault(request.request_id, fingerprint) != fingerprint:
                raise IdempotencyConflictError(request.request_id)
            stored = services.responses.get(request, fingerprint)
            prepared.append(bars if stored is not None else prepare(request, bundle, bars))
        except InvalidInputError as exc:
            raise InvalidInputError(("body", "requests", index, *exc.loc[1:]), exc.message) from exc
        except IdempotencyConflictError as exc:
            raise IdempotencyConflictError(exc.request_id, ("body", "requests", index, "request_id")) from exc
    decisions = []
    for index, (request, bars) in enumerate(zip(body.requests, prepared, strict=True)):
        try:
            decisions.append(_decide(services, bundle, request, bars))
        except InvalidInputError as exc:
            raise InvalidInputError(("body", "requests", index, *exc.loc[1:]), exc.message) from exc
    # A BatchResponse, written from the decisions' own JSON objects instead of re-encoding them.
    return Response(b'{"decisions":[' + b",".join(decisions) + b"]}", media_type=JSON_MEDIA_TYPE)
