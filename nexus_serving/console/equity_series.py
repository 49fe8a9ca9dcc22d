"""Each book's equity curve and drawdown, as the console's chart draws them (uPlot's columns).

The curve is the equity each decision was asked with (the audit log's requests); the drawdown
is measured from the running peak of that curve, which is the breaker's own measure until an
admin resets a book's mark (the risk table shows the stored mark)."""

from __future__ import annotations

from datetime import datetime

UNNAMED = "(no book)"


def _epoch(at: str) -> float:
    return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


def equity_series(marks: list[tuple[str, str | None, float]], limit: float) -> dict:
    """``{"limit": limit, "books": {book: {"t": [...], "equity": [...], "drawdown": [...]}}}``."""
    books: dict[str, dict[str, list[float]]] = {}
    peaks: dict[str, float] = {}
    for at, book, equity in marks:
        name = book or UNNAMED
        series = books.setdefault(name, {"t": [], "equity": [], "drawdown": []})
        peak = max(peaks.get(name, equity), equity)
        peaks[name] = peak
        series["t"].append(_epoch(at))
        series["equity"].append(equity)
        series["drawdown"].append(1.0 - equity / peak if peak > 0 else 0.0)
    return {"limit": limit, "books": dict(sorted(books.items()))}
