"""The risk panel's figures: the kill switch, the anomaly latches and each book's drawdown
against the breaker, as this worker holds them (the same state ``GET /v1/risk`` reports)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from nexus_assets.risk_store import KillSwitch, Latch
from nexus_serving.risk.watch import RiskWatch


@dataclass(frozen=True)
class BookRow:
    book: str
    equity: float
    peak_equity: float
    drawdown: float
    breaker_tripped: bool
    """The drawdown is at or past the limit: the breaker allows only trades that cut exposure."""


@dataclass(frozen=True)
class RiskView:
    engaged: bool
    held_by_deployment: bool
    switch: KillSwitch
    read_at: datetime | None
    error: str | None
    latches: list[Latch]
    books: list[BookRow]
    drawdown_limit: float


def risk_view(watch: RiskWatch, drawdown_limit: float) -> RiskView:
    return RiskView(
        engaged=watch.engaged,
        held_by_deployment=watch.held,
        switch=watch.state,
        read_at=watch.read_at,
        error=watch.error,
        latches=[latch for _, latch in sorted(watch.latches.items())],
        books=[
            BookRow(
                book=book,
                equity=mark.equity,
                peak_equity=mark.peak_equity,
                drawdown=mark.drawdown,
                breaker_tripped=mark.drawdown >= drawdown_limit,
            )
            for book, mark in sorted(watch.marks.items())
        ],
        drawdown_limit=drawdown_limit,
    )
