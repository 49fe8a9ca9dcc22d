"""From one validated request and one champion bundle to a decision, with the shared code only.

bars -> ``validate_bars`` -> ``features_for_last_rows`` -> predictor; ``inputs_for_last_bar``
-> volatility model; newest feature row, bars and signal -> anomaly detector; all of it ->
``policy.decide``. No FastAPI here: the engine is called directly by tests and tools, and
the routers only translate HTTP.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import polars as pl

from nexus_assets.ml.bars import BAR_SCHEMA, BarsValidationError, validate_bars
from nexus_assets.ml.features import FEATURE_COLUMNS, LOOKBACK_BARS, features_for_last_rows
from nexus_assets.ml.policy import Decision, PolicyConfig, SignalContext, decide
from nexus_assets.ml.risk_gate import ReasonCode, RiskState
from nexus_assets.ml.volatility_inputs import VOL_LOOKBACK_BARS, inputs_for_last_bar
from nexus_serving.model_store import ModelBundle
from nexus_serving.schemas import DecisionRequest, DecisionResponse

Loc = tuple[str | int, ...]


class InvalidInputError(ValueError):
    """Input the models cannot use; ``loc`` names the field like pydantic does."""

    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


def required_bars(window: int) -> int:
    """Bars a request must carry: the predictor window of complete feature rows, and the volatility inputs."""
    return max(window + LOOKBACK_BARS - 1, VOL_LOOKBACK_BARS)


class RiskLatches:
    """The anomaly halt latch per symbol, kept across requests so its hysteresis works."""

    def __init__(self) -> None:
        self._states: dict[str, RiskState] = {}
        self._lock = threading.Lock()

    def decide(self, context: SignalContext, config: PolicyConfig) -> Decision:
        with self._lock:
            decision = decide(context, config, self._states.get(context.symbol, RiskState()))
            self._states[context.symbol] = decision.state
            return decision

    def state(self, symbol: str) -> RiskState:
        return self._states.get(symbol, RiskState())


class ResponseStore:
    """Bounded LRU of responses by request_id, so a retried request gets the same decision."""

    def __init__(self, capacity: int) -> None:
        self._items: OrderedDict[str, DecisionResponse] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, request_id: str) -> DecisionResponse | None:
        with self._lock:
            found = self._items.get(request_id)
            if found is not None:
                self._items.move_to_end(request_id)
            return found

    def put(self, response: DecisionResponse) -> DecisionResponse:
        """Store ``response`` unless the id is already stored; return the stored one."""
        with self._lock:
            existing = self._items.get(response.request_id)
            if existing is not None:
                return existing
            self._items[response.request_id] = response
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
            return response


@dataclass(frozen=True)
class EngineConfig:
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    max_model_age_days: float = 30.0
    kill_switch: bool = False


@dataclass(frozen=True)
class ModelView:
    """What the three models say about the newest bar."""

    predicted_return: float
    volatility: float
    anomaly_score: float
    anomaly_reasons: tuple[str, ...]


def bars_frame(request: DecisionRequest) -> pl.DataFrame:
    """The request's columnar bars as the canonical, validated bar table."""
    bars = request.bars
    frame = pl.DataFrame(
        {
            "symbol": [request.signal.symbol] * len(bars.timestamp),
            "timestamp": bars.timestamp,
            "open": bars.open,
            "high": bars.high,
            "low": bars.low,
            "close": bars.close,
            "volume": bars.volume,
        },
        schema=BAR_SCHEMA,
    )
    try:
        return validate_bars(frame, source="bars")
    except BarsValidationError as exc:
        loc: Loc = ("body", "bars")
        if exc.column is not None:
            loc += (exc.column,)
        if exc.row is not None:
            loc += (exc.row - 1,)
        raise InvalidInputError(loc, exc.reason) from exc


def model_view(bundle: ModelBundle, bars: pl.DataFrame, request: DecisionRequest, now: datetime) -> ModelView:
    """Run the three champions on one symbol's bars (from ``prepare``)."""
    champions = bundle.champions
    window = champions.window
    signal = request.signal
    try:
        features = features_for_last_rows(bars, window)
        x = features.select(FEATURE_COLUMNS).to_numpy().astype(np.float32).reshape(1, window, -1)
        predicted = float(champions.predictor.predict(x)[0])
        variance = float(champions.volatility.forecast_variance(inputs_for_last_bar(bars))[0])
        assessment = champions.anomaly.score(features.tail(1), bars.tail(window), signal.model_dump(), now)
    except ValueError as exc:
        raise InvalidInputError(
            ("body", "bars"), f"model inputs cannot be computed from these bars: {exc}"
        ) from exc
    if not (math.isfinite(predicted) and math.isfinite(variance) and variance > 0):
        raise InvalidInputError(("body", "bars"), "the models give no finite forecast for these bars")
    return ModelView(predicted, math.sqrt(variance), assessment.score, tuple(assessment.reasons))


def stale_reasons(bundle: ModelBundle, now: datetime, max_age_days: float) -> list[str]:
    reasons = []
    for info in bundle.info.values():
        age = info.age_days(now)
        if age > max_age_days:
            reasons.append(
                f"{ReasonCode.STALE_MODEL}: {info.name} v{info.version} was trained on data up to "
                f"{info.trained_at:%Y-%m-%d}, {age:.0f} days ago (limit {max_age_days:g})"
            )
    return reasons


def prepare(request: DecisionRequest, bundle: ModelBundle) -> pl.DataFrame:
    """Validated bars, long enough for ``bundle``; raises InvalidInputError naming the field otherwise."""
    bars = bars_frame(request)
    need = required_bars(bundle.window)
    if bars.height < need:
        raise InvalidInputError(
            ("body", "bars", "timestamp"),
            f"needs at least {need} bars (predictor window {bundle.window} + feature lookback "
            f"{LOOKBACK_BARS} - 1), got {bars.height}",
        )
    return bars


def decide_request(
    request: DecisionRequest,
    bundle: ModelBundle,
    latches: RiskLatches,
    config: EngineConfig,
    now: datetime,
    bars: pl.DataFrame | None = None,
) -> DecisionResponse:
    """One decision for one request; raises InvalidInputError for bars the models cannot use."""
    bars = prepare(request, bundle) if bars is None else bars
    view = model_view(bundle, bars, request, now)
    signal, portfolio = request.signal, request.portfolio
    last_close = float(bars["close"][-1])
    equity = portfolio.equity if portfolio else 1.0
    position = portfolio.positions.get(signal.symbol, 0.0) if portfolio else 0.0
    context = SignalContext(
        symbol=signal.symbol,
        side=signal.side,
        strength=signal.strength,
        predicted_return=view.predicted_return,
        volatility=view.volatility,
        anomaly_score=view.anomaly_score,
        current_weight=position * last_close / equity,
        equity=equity,
        peak_equity=(portfolio.peak_equity or equity) if portfolio else 1.0,
        kill_switch=config.kill_switch,
    )
    decision = latches.decide(context, config.policy)
    reasons = [f"{code}: {text}" for code, text in zip(decision.reason_codes, decision.reasons, strict=True)]
    reasons += [f"ANOMALY: {text}" for text in view.anomaly_reasons]
    reasons += stale_reasons(bundle, now, config.max_model_age_days)
    quantity = decision.target_weight * equity / last_close - position if portfolio else None
    return DecisionResponse(
        request_id=request.request_id,
        decision_id=uuid.uuid4().hex,
        action=decision.action.value,
        target_weight=decision.target_weight,
        quantity=quantity,
        confidence=decision.confidence,
        predicted_return=view.predicted_return,
        volatility_forecast=view.volatility,
        anomaly_score=view.anomaly_score,
        reasons=reasons,
        model_versions=dict(bundle.champions.versions),
        decided_at=now,
    )
