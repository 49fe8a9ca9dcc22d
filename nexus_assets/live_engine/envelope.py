"""Reading the Live Engine's response bodies.

Success bodies wrap the resource in a named member (``{"order": {...}}``); errors are
``{"error": "..."}``. A proxy in front of the engine may answer with HTML or another shape, so
error text falls back to a short snippet of whatever arrived rather than failing to report.
"""

from __future__ import annotations

from typing import Any

import orjson

from nexus_assets.live_engine.parse import FieldError

_SNIPPET = 120


def snippet(body: bytes) -> str:
    text = body[:_SNIPPET].decode("utf-8", errors="replace")
    return text + ("..." if len(body) > _SNIPPET else "")


def error_message(body: bytes, fallback: str) -> str:
    """The engine's error text, whichever of the usual shapes it came in."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return snippet(body).strip() or fallback
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, str) and error:
            return error
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if "detail" in parsed:
            return str(parsed["detail"])
    return snippet(body).strip() or fallback


def unwrap(body: bytes, member: str) -> Any:
    """``member`` of a success body; ``ValueError`` for non-JSON, ``FieldError`` when it is absent."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValueError(f"response body is not JSON: {snippet(body)!r}") from None
    if not isinstance(parsed, dict):
        raise FieldError("body", f"expected an object with '{member}', got {type(parsed).__name__}")
    if member not in parsed:
        raise FieldError(member, "is missing from the response")
    return parsed[member]
