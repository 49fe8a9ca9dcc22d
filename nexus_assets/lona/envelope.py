"""Reading Lona's response envelopes.

Success is ``{"data": ...}``; errors come as ``{"error": {"code", "message"}}`` or FastAPI's
``{"detail": ...}``. Anything else on a success status is a protocol error that names what
was wrong, because silently treating it as empty would hide a broken gateway.
"""

from __future__ import annotations

from typing import Any

import orjson

from nexus_assets.lona.errors import LonaProtocolError

_SNIPPET = 120


def _snippet(body: bytes) -> str:
    text = body[:_SNIPPET].decode("utf-8", errors="replace")
    return text + ("..." if len(body) > _SNIPPET else "")


def error_details(body: bytes, fallback: str) -> tuple[str | None, str]:
    """``(code, message)`` from either error envelope, or the raw text when it is neither."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = _snippet(body).strip()
        return None, text or fallback
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            message = error.get("message")
            return (str(code) if code is not None else None), str(message or fallback)
        if isinstance(error, str):
            return None, error
        if "detail" in parsed:
            return None, _detail_message(parsed["detail"]) or fallback
    return None, _snippet(body).strip() or fallback


def _detail_message(detail: object) -> str:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                msg = str(item.get("msg", item))
                parts.append(f"{loc}: {msg}" if loc else msg)
            else:
                parts.append(str(item))
        return "; ".join(parts)
    if isinstance(detail, dict) and "message" in detail:
        return str(detail["message"])
    return str(detail)


def unwrap_data(body: bytes, *, method: str, path: str, status: int) -> Any:
    """The ``data`` member of a success body."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise LonaProtocolError(
            f"response body is not JSON: {_snippet(body)!r}", status=status, method=method, path=path
        ) from None
    if not isinstance(parsed, dict) or "data" not in parsed:
        raise LonaProtocolError("response lacks the 'data' envelope", status=status, method=method, path=path)
    return parsed["data"]


def unwrap_page(data: object, *, method: str, path: str, status: int) -> tuple[list[Any], bool]:
    """``(items, has_next)`` of a list page."""
    if not isinstance(data, dict):
        raise LonaProtocolError(
            "list response 'data' is not an object", status=status, method=method, path=path
        )
    items = data.get("items")
    has_next = data.get("has_next")
    if not isinstance(items, list):
        raise LonaProtocolError(
            "list response lacks an 'items' list", status=status, method=method, path=path
        )
    if not isinstance(has_next, bool):
        raise LonaProtocolError(
            "list response lacks a boolean 'has_next'", status=status, method=method, path=path
        )
    return items, has_next


def require_fields(
    value: object, fields: tuple[str, ...], *, what: str, method: str, path: str, status: int
) -> dict[str, Any]:
    """``value`` as an object that has every one of ``fields``."""
    if not isinstance(value, dict):
        raise LonaProtocolError(f"{what} is not an object", status=status, method=method, path=path)
    missing = [f for f in fields if f not in value]
    if missing:
        raise LonaProtocolError(
            f"{what} lacks field(s): {', '.join(missing)}", status=status, method=method, path=path
        )
    return value
