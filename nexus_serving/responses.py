"""JSON in and out: request bodies validated in one pass of pydantic's JSON parser, plain
responses written by orjson (strict about NaN: it writes null)."""

from __future__ import annotations

import email.message
from typing import Any, TypeVar

import orjson
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

JSON_MEDIA_TYPE = "application/json"
Model = TypeVar("Model", bound=BaseModel)


class OrjsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def _json_content(content_type: str | None) -> bool:
    """Whether FastAPI would read a body of this content type as JSON (``application/json``, ``*+json``)."""
    if content_type == JSON_MEDIA_TYPE:
        return True
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def parse_json_body(model: type[Model], raw: bytes, content_type: str | None) -> Model:
    """``raw`` validated as ``model`` in one pass of pydantic's Rust JSON parser, answered as FastAPI would.

    Errors are FastAPI's ``RequestValidationError`` with ``body`` in front of each location,
    so the app's handler answers them like those of any declared body: 400 for malformed JSON
    (``json_invalid``), 422 naming the field otherwise. An empty body is a missing one, and a
    body that is not declared JSON is not an object, as FastAPI's strict content type has it.
    """
    try:
        if not raw:
            raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
        if not _json_content(content_type):
            return model.model_validate(raw)  # bytes are not an object: 422 at ("body",)
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None
