"""Rendering console pages: the Jinja2 templates (autoescaped) and the headers every page gets."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.responses import HTMLResponse

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")


def when(value: datetime | str | None) -> str:
    """An instant as ``YYYY-MM-DD HH:MM:SS`` UTC, whether the store gave text or a datetime."""
    if value is None:
        return ""
    at = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    at = at.astimezone(UTC) if at.tzinfo else at
    return at.strftime("%Y-%m-%d %H:%M:%S")


templates.env.filters["when"] = when

SECURITY_HEADERS = {
    # Scripts and styles only from the console's own static files; no framing (clickjacking).
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


@dataclass(frozen=True)
class Live:
    """A polled fragment's content and its signature: a poll that already shows this content
    gets 204 (htmx swaps nothing), so a keyboard user's focus and a screen reader's place hold."""

    html: Markup
    signature: str


def live(template: str, context: dict[str, Any]) -> Live:
    html = templates.get_template(template).render(context)
    return Live(Markup(html), hashlib.sha256(html.encode()).hexdigest()[:16])  # rendered autoescaped
