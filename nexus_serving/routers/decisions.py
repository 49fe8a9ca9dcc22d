"""POST /v1/decisions and its batch form; the decision itself is ``decision_engine``'s."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from nexus_serving import error_responses
from nexus_serving.auth import check_bearer
from nexus_serving.decider import PendingDecision, decide_all
from nexus_serving.decision_engine import InvalidInputError
from nexus_serving.deps import current_bundle
from nexus_serving.http_protocol import IN_FLIGHT
from nexus_serving.idempotency import IdempotencyConflictError
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
    hop to the thread pool and back costs more than the decision. Requests the worker is
    handling at the same time are decided together (``micro_batch``), on the event loop; a
    request alone is decided at once.
    """
    services, bundle = _admitted(request)
    raw = await request.body()
    body = parse_json_body(DecisionRequest, raw, request.headers.get("content-type"))
    pending = PendingDecision(body, bundle, raw)
    alone = len(request.scope.get("state", {}).get(IN_FLIGHT, ())) <= 1
    if alone:  # waiting for company would cost a pass of the loop
        answer = decide_all(services, [pending])[0]
        if isinstance(answer, Exception):
            raise answer
    else:
        answer = await services.decisions.submit(pending)
    return Response(answer, media_type=JSON_MEDIA_TYPE)


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
    answers = decide_all(
        services, [PendingDecision(request, bundle) for request in body.requests], atomic=True
    )
    decisions: list[bytes] = []
    for index, answer in enumerate(answers):
        if isinstance(answer, InvalidInputError):
            raise _in_batch(answer, index) from answer
        if isinstance(answer, IdempotencyConflictError):
            raise IdempotencyConflictError(
                answer.request_id, ("body", "requests", index, "request_id")
            ) from answer
        decisions.append(answer)
    # A BatchResponse, written from the decisions' own JSON objects instead of re-encoding them.
    return Response(b'{"decisions":[' + b",".join(decisions) + b"]}", media_type=JSON_MEDIA_TYPE)


def _in_batch(exc: InvalidInputError, index: int) -> InvalidInputError:
    """``exc`` located at item ``index`` of the batch body."""
    return InvalidInputError(("body", "requests", index, *exc.loc[1:]), exc.message)
