"""Error bodies: ``{"detail": ...}`` naming the field; bad input is never a 500."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError

from nexus_serving.audit import AuditUnavailableError
from nexus_serving.body_limit import CLOSE, BodyTimeoutError, BodyTooLargeError
from nexus_serving.decisions.idempotency import IdempotencyConflictError
from nexus_serving.decisions.pipeline import DecisionFailedError
from nexus_serving.decisions.request_bars import InvalidInputError, StaleBarsError
from nexus_serving.responses import OrjsonResponse

logger = logging.getLogger(__name__)


def _public(error: dict[str, Any]) -> dict[str, Any]:
    """Location, message and type only: the offending input is not echoed back."""
    return {
        "loc": list(error.get("loc", ())),
        "msg": str(error.get("msg", "")),
        "type": error.get("type", ""),
    }


async def _validation(request: Request, exc: RequestValidationError) -> OrjsonResponse:
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return OrjsonResponse({"detail": "malformed JSON body"}, status_code=400)
    return OrjsonResponse({"detail": [_public(e) for e in errors]}, status_code=422)


async def _invalid_input(request: Request, exc: InvalidInputError) -> OrjsonResponse:
    detail = [{"loc": list(exc.loc), "msg": exc.message, "type": "value_error"}]
    return OrjsonResponse({"detail": detail}, status_code=422)


async def _conflict(request: Request, exc: IdempotencyConflictError) -> OrjsonResponse:
    detail = [{"loc": list(exc.loc), "msg": str(exc), "type": "idempotency_conflict"}]
    return OrjsonResponse({"detail": detail}, status_code=409)


async def _body_refused(request: Request, exc: BodyTooLargeError | BodyTimeoutError) -> OrjsonResponse:
    status_code = 413 if isinstance(exc, BodyTooLargeError) else 408
    return OrjsonResponse({"detail": str(exc)}, status_code=status_code, headers=CLOSE)


async def _decision_failed(request: Request, exc: DecisionFailedError) -> OrjsonResponse:
    """Logged with its cause where it happened; the body says nothing was decided or stored."""
    return OrjsonResponse({"detail": "internal error: no decision was made"}, status_code=500)


async def _audit_unavailable(request: Request, exc: AuditUnavailableError) -> OrjsonResponse:
    """Fail closed: no decision leaves the service before it is durable in the audit log."""
    return OrjsonResponse({"detail": str(exc)}, status_code=503, headers={"retry-after": "1"})


async def _stale_bars(request: Request, exc: StaleBarsError) -> OrjsonResponse:
    """No retry-after: the same bars stay stale; the client needs newer ones (or the feed does)."""
    return OrjsonResponse({"detail": str(exc)}, status_code=503)


async def _unexpected(request: Request, exc: Exception) -> OrjsonResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return OrjsonResponse({"detail": "internal error"}, status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(InvalidInputError, _invalid_input)
    app.add_exception_handler(IdempotencyConflictError, _conflict)
    app.add_exception_handler(DecisionFailedError, _decision_failed)
    app.add_exception_handler(AuditUnavailableError, _audit_unavailable)
    app.add_exception_handler(StaleBarsError, _stale_bars)
    app.add_exception_handler(BodyTooLargeError, _body_refused)
    app.add_exception_handler(BodyTimeoutError, _body_refused)
    app.add_exception_handler(Exception, _unexpected)
