"""Response body of ``GET /v1/allocations/latest`` (contract v1)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class AllocationLine(BaseModel):
    symbol: str
    target_weight: float
    desired_weight: float
    """The policy's weight before the optimizer applied the portfolio limits."""
    current_weight: float
    action: str
    confidence: float
    reason_codes: list[str]
    reasons: str
    signal_id: str | None
    predicted_return: float
    volatility_forecast: float
    anomaly_score: float
    price: float


class AllocationResponse(BaseModel):
    allocation_id: str
    """The id the Live Engine orders carry (idempotency key prefix)."""
    as_of: datetime
    """Bar time the allocation was computed for."""
    written_at: datetime
    """When the ``portfolio_allocation`` asset was last materialized."""
    gross_exposure: float
    net_exposure: float
    lines: list[AllocationLine]
