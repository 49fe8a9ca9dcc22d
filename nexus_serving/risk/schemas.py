"""Bodies of the risk routes: the shared risk state as this worker holds it, and changes to it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from nexus_serving.schemas import MAX_EQUITY, MIN_EQUITY, StrictModel, _printable

Reason = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_printable)]


class KillSwitchChange(StrictModel):
    engaged: bool
    """true stops new risk on every worker, replica and the allocation asset; false releases it."""
    reason: Reason
    """Why, recorded with the admin's name and the time."""


class KillSwitchStatus(BaseModel):
    engaged: bool
    """In force on this worker: the store's switch, or the deployment's ``NEXUS_KILL_SWITCH``."""
    held_by_deployment: bool
    """``NEXUS_KILL_SWITCH`` is set: decisions halt whatever the store says."""
    changed_by: str | None
    changed_at: datetime | None
    reason: str | None
    read_at: datetime | None
    """When this worker last read the store; the state above is unconfirmed since then while ``error`` is set."""
    error: str | None


class MarkReset(StrictModel):
    reason: Reason
    """Why (a withdrawal, a new capital base), recorded with the admin's name and the time."""
    peak_equity: Annotated[float | None, Field(ge=MIN_EQUITY, le=MAX_EQUITY, allow_inf_nan=False)] = None
    """The new high-water mark; default: the book's latest equity (no drawdown)."""


class LatchStatus(BaseModel):
    halted: bool
    """New risk on the symbol is halted until its anomaly score falls below the resume level."""
    anomaly_score: float
    """The score of the decision that moved the latch."""
    decision_id: str
    changed_at: datetime


class MarkStatus(BaseModel):
    equity: float
    """The latest equity a decision on this book was asked with."""
    peak_equity: float
    """The high-water mark since the last reset: the drawdown breaker's reference."""
    drawdown: float
    generation: int
    """How many times the mark was reset."""
    updated_at: datetime
    reset_by: str | None
    reset_reason: str | None


class RiskResponse(BaseModel):
    kill_switch: KillSwitchStatus
    anomaly_latches: dict[str, LatchStatus]
    """Every symbol whose latch was ever moved, by symbol, as last read from the store."""
    books: dict[str, MarkStatus]
    """Every named book's equity mark, as last read from the store."""
