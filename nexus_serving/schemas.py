"""Request and response bodies of the decision contract (v1).

Strict models: ``false`` is not a number and ``"1.0"`` is not a price. Every number is
finite and bounded, so nothing a client sends can reach the models as NaN, infinity, a
denormal or an absurd magnitude.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

MIN_PRICE, MAX_PRICE = 1e-8, 1e9
MAX_VOLUME = 1e15
MIN_EQUITY, MAX_EQUITY = 0.01, 1e13
"""Equity is divided by (a position's weight, the drawdown): a cent keeps every ratio finite."""
MAX_QUANTITY = 1e12
MAX_BARS = 5_000
MAX_POSITIONS = 10_000
MAX_BATCH = 1_000
"""Hard ceiling of the schema; the configured `max_batch` (default 256) is checked per request."""


Timestamp = AwareDatetime
"""ISO 8601 text with a zone ("...Z" or "+00:00"). Bodies are validated from JSON text, where a
strict datetime refuses JSON numbers: a number is never taken for an epoch."""
Price = Annotated[float, Field(ge=MIN_PRICE, le=MAX_PRICE, allow_inf_nan=False)]
Volume = Annotated[float, Field(ge=0.0, le=MAX_VOLUME, allow_inf_nan=False)]
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _printable(value: str) -> str:
    """Refuse control characters: PostgreSQL stores no U+0000, and none belongs in an id or a log line."""
    found = _CONTROL_CHARACTER.search(value)
    if found is not None:
        raise ValueError(
            f"must not contain control characters, found U+{ord(found.group()):04X} at position {found.start()}"
        )
    return value


Identifier = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_printable)]
Symbol = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._:/-]+$")]


class StrictModel(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Signal(StrictModel):
    signal_id: Identifier
    strategy_id: Identifier
    symbol: Symbol
    side: Literal["buy", "sell", "flat"]
    strength: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
    timestamp: Timestamp


class RecentSignal(StrictModel):
    """An earlier signal on the request's symbol: the history the signal features are computed from."""

    strategy_id: Identifier
    side: Literal["buy", "sell", "flat"]
    strength: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
    timestamp: Timestamp


class Bars(StrictModel):
    """Columnar bars of the signal's symbol, oldest first."""

    symbol: Symbol | None = None
    """Optional; when given it must be the signal's symbol."""
    timestamp: Annotated[list[Timestamp], Field(min_length=1, max_length=MAX_BARS)]
    open: Annotated[list[Price], Field(min_length=1, max_length=MAX_BARS)]
    high: Annotated[list[Price], Field(min_length=1, max_length=MAX_BARS)]
    low: Annotated[list[Price], Field(min_length=1, max_length=MAX_BARS)]
    close: Annotated[list[Price], Field(min_length=1, max_length=MAX_BARS)]
    volume: Annotated[list[Volume], Field(min_length=1, max_length=MAX_BARS)]

    @model_validator(mode="after")
    def _aligned(self) -> Bars:
        """Equal column lengths; their order in time is checked on the parsed instants (``request_bars``)."""
        n = len(self.timestamp)
        for name in ("open", "high", "low", "close", "volume"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"bars.{name} has {len(getattr(self, name))} values but bars.timestamp has {n}"
                )
        return self


class Portfolio(StrictModel):
    book: Identifier | None = None
    """The account this portfolio is; named, the service keeps its high-water mark (shared by every
    worker and replica, kept across restarts) and the drawdown breaker uses it."""
    equity: Annotated[float, Field(ge=MIN_EQUITY, le=MAX_EQUITY, allow_inf_nan=False)]
    peak_equity: Annotated[float | None, Field(ge=MIN_EQUITY, le=MAX_EQUITY, allow_inf_nan=False)] = None
    """Highest equity so far, for the drawdown breaker; defaults to ``equity``, or to the book's stored
    high-water mark when higher."""
    positions: Annotated[
        dict[Symbol, Annotated[float, Field(ge=-MAX_QUANTITY, le=MAX_QUANTITY, allow_inf_nan=False)]],
        Field(max_length=MAX_POSITIONS),
    ] = Field(default_factory=dict)
    prices: Annotated[dict[Symbol, Price], Field(max_length=MAX_POSITIONS)] = Field(default_factory=dict)
    """The latest price of each other position (the Live Engine's ``currentPrice``): with them the
    gross cap counts the rest of the book; a position without one is not counted, and the
    decision says so."""


class DecisionRequest(StrictModel):
    request_id: Identifier
    signal: Signal
    bars: Bars
    portfolio: Portfolio | None = None
    recent_signals: Annotated[list[RecentSignal] | None, Field(max_length=MAX_BARS)] = None
    """Earlier signals on this symbol (any strategy) within the bars' span. The model features
    count every signal at the first bar at or after it, this request's own signal included, as
    in training; without them only this request's signal is counted."""

    @model_validator(mode="after")
    def _bars_match_signal(self) -> DecisionRequest:
        if self.bars.symbol is not None and self.bars.symbol != self.signal.symbol:
            raise ValueError(
                f"bars.symbol {self.bars.symbol!r} is not the signal's symbol {self.signal.symbol!r}"
            )
        return self


class DecisionResponse(BaseModel):
    request_id: str
    decision_id: str
    action: Literal["execute", "reduce", "reject", "halt"]
    target_weight: float
    quantity: float | None
    confidence: float
    predicted_return: float
    volatility_forecast: float
    """Forecast per-bar volatility (standard deviation of the next bar's log return)."""
    anomaly_score: float
    reasons: list[str]
    model_versions: dict[str, str]
    decided_at: datetime


class ModelStatus(BaseModel):
    name: str
    version: str
    alias: str
    trained_at: datetime
    age_days: float
    stale: bool
    window: int
    source: Literal["registry", "cache"]


class ModelsResponse(BaseModel):
    models: list[ModelStatus]
    window: int
    """Predictor window; a request needs ``bars_required`` bars."""
    bars_required: int
    source: Literal["registry", "cache"]
    loaded_at: datetime


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    source: Literal["registry", "cache"] | None = None
    model_versions: dict[str, str] = Field(default_factory=dict)
    reason: str | None = None


class BatchRequest(StrictModel):
    requests: Annotated[list[DecisionRequest], Field(min_length=1, max_length=MAX_BATCH)]


class BatchResponse(BaseModel):
    decisions: list[DecisionResponse]
