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


def parse_batch_body(
    model: type[Model], item_model: type[BaseModel], raw: bytes, content_type: str | None, max_items: int
) -> Model:
    """A ``{"requests": [...]}`` body, parsed as ``parse_json_body`` would, in short steps.

    Validating a whole batch is one call that holds the interpreter lock for its full length
    (about 12 ms per MB), so the event loop waits for it even from another thread. Here the
    body is decoded by orjson (about 4 ms per MB), its length is checked against
    ``max_items`` before any item is validated, and then each item is validated on its own,
    with the same strictness, from its own JSON text. Any other shape goes to the model itself,
    which names what is wrong.
    """
    if not raw or not _json_content(content_type):
        return parse_json_body(model, raw, content_type)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error"}]
        ) from None
    items = data.get("requests") if isinstance(data, dict) and data.keys() == {"requests"} else None
    if not isinstance(items, list) or not items:
        return parse_json_body(model, raw, content_type)
    if len(items) > max_items:
        message = f"at most {max_items} requests per batch, got {len(items)}"
        raise RequestValidationError([{"type": "value_error", "loc": ("body", "requests"), "msg": message}])
    parsed, errors = [], []
    for index, item in enumerate(items):
        try:
            parsed.append(item_model.model_validate_json(orjson.dumps(item)))
        except ValidationError as exc:
            found = exc.errors(include_url=False, include_input=False, include_context=False)
            errors.extend({**e, "loc": ("body", "requests", index, *e["loc"])} for e in found)
    if errors:
        raise RequestValidationError(errors)
    return model.model_construct(requests=parsed)
