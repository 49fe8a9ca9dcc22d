"""Error responses as the OpenAPI schema documents them, so clients (and schema checks) can rely on them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class FieldError(BaseModel):
    loc: list[str | int]
    """Where the problem is, e.g. ``["body", "bars", "close", 3]``."""
    msg: str
    type: str


class FieldErrors(BaseModel):
    detail: list[FieldError]


class Message(BaseModel):
    detail: str


Responses = dict[int | str, dict[str, Any]]

AUTH: Responses = {
    401: {"model": Message, "description": "no bearer token"},
    403: {"model": Message, "description": "the token is not accepted"},
}
JSON_BODY: Responses = {
    400: {"model": Message, "description": "malformed JSON"},
    413: {"model": Message, "description": "body larger than the configured limit"},
    422: {"model": FieldErrors, "description": "invalid input; each error names its field"},
}
CONFLICT: Responses = {
    409: {"model": FieldErrors, "description": "request_id already used for a different request"},
}
NO_MODELS: Responses = {
    503: {
        "model": Message,
        "description": "no models loaded, the audit log is full, or the bars are stale (the reason is given)",
    }
}
