"""Headlines from an HTTP feed: ``GET <url>`` answering a JSON list, ``{"items": [...]}`` or JSONL."""

from __future__ import annotations

import json
from typing import Any

import httpx
import polars as pl

from nexus_assets.news.rows import parse_row
from nexus_assets.news.schema import NewsValidationError, headlines_frame


def _items(response: httpx.Response, source: str) -> list[Any]:
    text = response.text
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        items = []
        for line, piece in enumerate(text.splitlines(), start=1):
            if piece.strip():
                try:
                    items.append(json.loads(piece))
                except json.JSONDecodeError as error:
                    raise NewsValidationError(f"is not JSON: {error.msg}", source=source, row=line) from None
        return items
    if isinstance(body, dict):
        body = body.get("items", body.get("data"))
    if not isinstance(body, list):
        raise NewsValidationError("answer is neither a list nor an object with 'items'", source=source)
    return body


def fetch_news(url: str, *, token: str | None = None, timeout_s: float = 10.0) -> pl.DataFrame:
    """The feed's headlines; a bad item is reported by its 1-based position in the answer."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(url, headers=headers, timeout=timeout_s)
        response.raise_for_status()
    except httpx.HTTPError as error:
        raise NewsValidationError(
            f"cannot fetch the feed: {type(error).__name__}: {error}", source=url
        ) from error
    rows = [
        parse_row(item, source=url, row=index, default_source="feed")
        for index, item in enumerate(_items(response, url), start=1)
    ]
    return headlines_frame(rows)
