"""POST /v1/decisions and its batch form: HTTP in and out; the deciding is ``decisions``'."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from nexus_serving import error_responses
from nexus_serving.audit import AuditUnavailableError
from nexus_serving.decisions.idempotency import IdempotencyConflictError
from nexus_serving.decisions.pipeline import DecisionFailedError, PendingDecision, settled, settled_now
from nexus_serving.decisions.request_bars import InvalidInputError, StaleBarsError
from nexus_serving.deps import BundleDep, ServicesDep, TokenDep
from nexus_serving.model_store import ModelBundle
from nexus_serving.responses import JSON_MEDIA_TYPE, parse_batch_body, parse_json_body
from nexus_serving.schemas import MAX_BATCH, BatchRequest, BatchResponse, DecisionRequest, DecisionResponse
from nexus_serving.services import Services

router = APIRouter(
    prefix="/v1/decisions",
    tags=["decisions"],
    dependencies=[TokenDep],
    responses=error_responses.AUTH
    | error_responses.JSON_BODY
    | error_responses.CONFLICT
    | error_responses.NO_MODELS,
)


def _body(model: str) -> dict:
    """The JSON body a route reads itself, documented as FastAPI documents a model parameter."""
    schema = {"$ref": f"#/components/schemas/{model}"}
    return {"requestBody": {"content": {"application/json": {"schema": schema}}, "required": True}}


@router.post("", response_model=DecisionResponse, openapi_extra=_body("DecisionRequest"))
async def create_decision(request: Request, services: ServicesDep, bundle: BundleDep) -> Response:
    """One decision; a repeated request_id returns the stored decision, not a new one.

    The body is read here, after the token and the bundle, and validated from its JSON text in
    one pass (strict timestamps are text only in JSON). ``async``: a hop to the thread pool and
    back costs more than the decision. Requests the worker is handling at the same time are
    decided together, on the event loop (``micro_batch``).
    """
    raw = await request.body()
    body = parse_json_body(DecisionRequest, raw, request.headers.get("content-type"))
    answer = await services.decisions.submit(PendingDecision(body, bundle, raw))
    settings = services.settings
    return Response(
        await settled(answer, settings.audit_ack_timeout_s, services.metrics), media_type=JSON_MEDIA_TYPE
    )


@router.post("/batch", response_model=BatchResponse, openapi_extra=_body("BatchRequest"))
async def create_decisions(request: Request, services: ServicesDep, bundle: BundleDep) -> Response:
    """Many decisions in order; every item is checked before any is decided.

    The body is validated from its JSON text like a single decision's, in the thread pool and
    item by item (``parse_batch_body``), and the decisions run there too, so a large batch does
    not hold the event loop and the requests the worker is deciding meanwhile.
    """
    raw = await request.body()
    return await run_in_threadpool(_decide_batch, services, bundle, raw, request.headers.get("content-type"))


def _decide_batch(services: Services, bundle: ModelBundle, raw: bytes, content_type: str | None) -> Response:
    limit = min(services.settings.max_batch, MAX_BATCH)
    body = parse_batch_body(BatchRequest, DecisionRequest, raw, content_type, limit)
    answers = services.pipeline.decide(
        [PendingDecision(request, bundle) for request in body.requests], atomic=True
    )
    # Every decision is durable before the batch is answered; the wait is shared, not summed.
    deadline = time.monotonic() + services.settings.audit_ack_timeout_s
    decisions: list[bytes] = []
    for index, pending_answer in enumerate(answers):
        remaining = max(deadline - time.monotonic(), 0.0)
        answer = settled_now(pending_answer, remaining, services.metrics)
        if isinstance(answer, InvalidInputError):
            raise _in_batch(answer, index) from answer
        if isinstance(answer, IdempotencyConflictError):
            raise IdempotencyConflictError(
                answer.request_id, ("body", "requests", index, "request_id")
            ) from answer
        if isinstance(answer, StaleBarsError):
            raise answer.at(f"requests[{index}]") from answer
        if isinstance(answer, DecisionFailedError | AuditUnavailableError):
            raise answer
        decisions.append(answer)
    # A BatchResponse, written from the decisions' own JSON objects instead of re-encoding them.
    return Response(b'{"decisions":[' + b",".join(decisions) + b"]}", media_type=JSON_MEDIA_TYPE)


def _in_batch(exc: InvalidInputError, index: int) -> InvalidInputError:
    """``exc`` located at item ``index`` of the batch body."""
    return InvalidInputError(("body", "requests", index, *exc.loc[1:]), exc.message)
