"""One headline row, from whatever a file line or feed item holds, checked field by field."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from nexus_assets.news.schema import MAX_STORED_CHARS, SYMBOL_PATTERN, NewsValidationError, headline_id

TIME_FIELDS: tuple[str, ...] = ("published_at", "timestamp", "time", "date")
TEXT_FIELDS: tuple[str, ...] = ("headline", "title", "text")
SYMBOL_SEPARATORS: tuple[str, ...] = (";", "|", ",", " ")


def _first(item: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str, Any]:
    for name in names:
        if name in item:
            return name, item[name]
    return names[0], None


def parse_time(value: Any, *, source: str, row: int, field: str) -> datetime:
    """An ISO 8601 time (or date); naive times are read as UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            raise NewsValidationError(
                f"cannot parse {value!r} as an ISO 8601 time", source=source, row=row, field=field
            ) from None
    else:
        raise NewsValidationError(f"is missing or not a time: {value!r}", source=source, row=row, field=field)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_symbols(value: Any, *, source: str, row: int) -> list[str]:
    """Tickers as a list or one string separated by ``;``, ``|``, ``,`` or spaces."""
    if isinstance(value, str):
        parts = [value]
        for separator in SYMBOL_SEPARATORS:
            parts = [piece for part in parts for piece in part.split(separator)]
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        raise NewsValidationError(
            f"is missing or not a list of tickers: {value!r}", source=source, row=row, field="symbols"
        )
    symbols: list[str] = []
    for part in parts:
        if not isinstance(part, str):
            raise NewsValidationError(f"is not a ticker: {part!r}", source=source, row=row, field="symbols")
        symbol = part.strip().upper()
        if not symbol:
            continue
        if not SYMBOL_PATTERN.match(symbol):
            raise NewsValidationError(f"is not a ticker: {part!r}", source=source, row=row, field="symbols")
        if symbol not in symbols:
            symbols.append(symbol)
    if not symbols:
        raise NewsValidationError("names no ticker", source=source, row=row, field="symbols")
    return symbols


def parse_row(item: Any, *, source: str, row: int, default_source: str) -> dict[str, Any]:
    """A canonical row. An empty headline is kept (it is scored neutral, with a reason)."""
    if not isinstance(item, Mapping):
        raise NewsValidationError(f"is not an object: {item!r:.80}", source=source, row=row)
    time_field, raw_time = _first(item, TIME_FIELDS)
    published = parse_time(raw_time, source=source, row=row, field=time_field)
    text_field, text = _first(item, TEXT_FIELDS)
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise NewsValidationError(f"is not text: {text!r:.80}", source=source, row=row, field=text_field)
    symbols = parse_symbols(item.get("symbols", item.get("symbol")), source=source, row=row)
    origin = item.get("source") or default_source
    if not isinstance(origin, str):
        raise NewsValidationError(f"is not text: {origin!r:.80}", source=source, row=row, field="source")
    text = text[:MAX_STORED_CHARS]
    return {
        "headline_id": headline_id(text, published, symbols),
        "published_at": published,
        "symbols": symbols,
        "headline": text,
        "source": origin,
    }
