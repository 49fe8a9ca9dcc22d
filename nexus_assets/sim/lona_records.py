"""What the Lona stand-in stores: symbols, reports, and the errors it answers with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from nexus_assets.lona.wire import format_time
from nexus_assets.sim.lona_backtest import BacktestResult, SimulationParameters

REPORT_STATUSES: tuple[str, ...] = ("PENDING", "EXECUTING", "PROCESSING", "COMPLETED", "FAILED")


class WorldError(Exception):
    """A request the world refuses, with the HTTP status and code the API answers."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


@dataclass(frozen=True)
class SymbolRecord:
    id: str
    name: str
    bars: pl.DataFrame
    frequency: str
    created_at: datetime
    progressive: bool
    """True for simulated symbols, whose bars are revealed one tick at a time."""


@dataclass
class Report:
    id: str
    strategy_id: str
    data_ids: list[str]
    created_at: datetime
    start: str
    end: str
    simulation: SimulationParameters
    status: str = "PENDING"
    progress: float = 0.0
    error: str | None = None
    result: BacktestResult | None = None
    completed_at: datetime | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "strategy_id": self.strategy_id,
            "status": self.status,
            "created_at": format_time(self.created_at),
            "completed_at": format_time(self.completed_at) if self.completed_at else None,
            "start_date": self.start,
            "end_date": self.end,
            "data_ids": list(self.data_ids),
            "error": self.error,
            "total_stats": self.result.total_stats if self.result else None,
        }
