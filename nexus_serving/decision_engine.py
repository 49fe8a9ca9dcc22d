"""From one validated request and one champion bundle to a decision, with the shared code only.

bars -> ``validate_bar_columns`` (the rules of ``validate_bars``) -> ``feature_matrix_values`` (the
kernel ``features_for_last_rows`` runs) -> predictor; ``input_values`` (the kernel of
``inputs_for_last_bar``) -> volatility model; newest feature row, ``bar_window`` and signal ->
anomaly detector; all of it -> ``policy.decide``. The kernels are called on NumPy arrays:
wrapping 32 rows in polars frames and back costs more than computing them. No FastAPI here: the engine is called directly by tests and tools, and the
routers only translate HTTP.
"""

from __future__ import annotations

import functools
import hashlib
import math
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from pydantic import ConfigDict, TypeAdapter

from nexus_assets.ml.anomaly_rules import bar_window
from nexus_assets.ml.bars import BarsValidationError, validate_bar_columns
from nexus_assets.ml.features import FEATURE_COLUMNS, LOOKBACK_BARS, feature_matrix_values
from nexus_assets.ml.policy import Decision, PolicyConfig, SignalContext, decide
from nexus_assets.ml.risk_gate import ReasonCode, RiskState
from nexus_assets.ml.volatility_inputs import INPUT_COLUMNS, VOL_LOOKBACK_BARS, input_values
from nexus_serving.model_store import ModelBundle, ModelInfo
from nexus_serving.news_context import NO_NEWS, NewsInputs
from nexus_serving.schemas import DecisionRequest, DecisionResponse

Loc = tuple[str | int, ...]
_EPOCH_MILLISECONDS = TypeAdapter(list[datetime], config=ConfigDict(ser_json_temporal="milliseconds"))
"""Datetimes to epoch milliseconds (float, exact to well under 1 us until the 23rd century) in pydantic's Rust core."""
_VALUE_COLUMNS = ("open", "high", "low", "close", "volume")
BAR_COLUMN_NAMES = ("timestamp", *_VALUE_COLUMNS)
"""The columns of ``RequestBars``, in a fixed order."""


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
    features_hash: str
    """Digest of what the predictor and the volatility model were given, for the audit log."""


@dataclass(frozen=True)
class Outcome:
    """A decision and what the audit log needs besides the response."""

    response: DecisionResponse
    features_hash: str


def features_hash(x: np.ndarray, volatility_inputs: np.ndarray) -> str:
    """A stable digest of the model inputs; SHA-256 because it is hardware-accelerated (microseconds)."""
    digest = hashlib.sha256(np.ascontiguousarray(x, dtype=np.float32))
    digest.update(np.ascontiguousarray(volatility_inputs, dtype=np.float64))
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class RequestBars:
    """One request's bars as NumPy columns, validated: what the engine and the fingerprint read."""

    symbol: str
    columns: dict[str, np.ndarray]
    """``timestamp`` (int64 epoch microseconds) and float64 ``open`` ... ``volume``, oldest first."""

    @property
    def height(self) -> int:
        return int(self.columns["timestamp"].shape[0])


def request_bars(request: DecisionRequest) -> RequestBars:
    """The request's columnar bars, checked by the same rules as every bar table (``validate_bar_columns``).

    NumPy only: polars converting 120 datetime objects under a schema costs ~1 ms, and a
    DataFrame of them ~0.2 ms; one is built only to name the row and column of invalid bars.
    """
    bars = request.bars
    height = len(bars.timestamp)
    # np.fromiter: the values are known floats, so NumPy's type discovery on a list is skipped.
    milliseconds = np.fromiter(
        _EPOCH_MILLISECONDS.dump_python(bars.timestamp, mode="json"), np.float64, height
    )
    stamps = np.rint(milliseconds * 1000.0).astype(np.int64)
    later = stamps[1:] > stamps[:-1]
    if not later.all():
        row = int(np.argmin(later)) + 1
        raise InvalidInputError(
            ("body", "bars", "timestamp", row),
            f"bars.timestamp[{row}] is not after bars.timestamp[{row - 1}]: timestamps must strictly increase",
        )
    columns = {"timestamp": stamps}
    for name in _VALUE_COLUMNS:
        columns[name] = np.fromiter(getattr(bars, name), np.float64, height)
    try:
        validate_bar_columns(request.signal.symbol, columns, source="bars")
    except BarsValidationError as exc:
        loc: Loc = ("body", "bars")
        if exc.column is not None:
            loc += (exc.column,)
        if exc.row is not None:
            loc += (exc.row - 1,)
        raise InvalidInputError(loc, exc.reason) from exc
    return RequestBars(request.signal.symbol, columns)


def model_views(
    bundle: ModelBundle, items: Sequence[tuple[DecisionRequest, RequestBars]], now: datetime
) -> list[ModelView | InvalidInputError]:
    """Run the three champions on each request's bars (from ``prepare``); one result per item, in order.

    The predictor runs once on every window: a batch of four costs about half of four single
    runs, and ONNX Runtime gives each row bit for bit what it gives that row alone (tested).
    A request whose bars the models cannot use gets its InvalidInputError; the others are unaffected.
    """
    champions = bundle.champions
    features = [_features(champions.window, bars) for _, bars in items]
    usable = [f for f in features if isinstance(f, np.ndarray)]
    if not usable:
        return features  # type: ignore[return-value]  # all of them are errors
    x = np.stack(usable).transpose(0, 2, 1).astype(np.float32)  # (requests, window, features)
    predicted = champions.predictor.predict(x)
    results: list[ModelView | InvalidInputError] = []
    row = 0
    for (request, bars), matrix in zip(items, features, strict=True):
        if isinstance(matrix, InvalidInputError):
            results.append(matrix)
            continue
        results.append(_view(bundle, request, bars, matrix, x[row : row + 1], float(predicted[row]), now))
        row += 1
    return results


def _features(window: int, bars: RequestBars) -> np.ndarray | InvalidInputError:
    """The predictor's feature window of one request: (features x window)."""
    needed = window + LOOKBACK_BARS - 1
    columns = bars.columns
    try:
        return feature_matrix_values({name: columns[name][-needed:] for name in _VALUE_COLUMNS}, window)
    except ValueError as exc:
        return _unusable(exc)


def _unusable(exc: ValueError) -> InvalidInputError:
    return InvalidInputError(("body", "bars"), f"model inputs cannot be computed from these bars: {exc}")


def _view(
    bundle: ModelBundle,
    request: DecisionRequest,
    bars: RequestBars,
    features: np.ndarray,
    x: np.ndarray,
    predicted: float,
    now: datetime,
) -> ModelView | InvalidInputError:
    """The volatility and anomaly models on one request, given its features and predicted return."""
    champions = bundle.champions
    window = champions.window
    columns = bars.columns
    try:
        inputs = input_values({name: columns[name][-VOL_LOOKBACK_BARS:] for name in _VALUE_COLUMNS}, 1)
        volatility_inputs = np.array([inputs[name][0] for name in INPUT_COLUMNS])
        with np.errstate(over="ignore"):  # an overflow is caught as a non-finite forecast below
            variance = float(champions.volatility.forecast_arrays(inputs)[0])
        newest = dict(zip(FEATURE_COLUMNS, features[:, -1].tolist(), strict=True))
        anomaly = champions.anomaly
        recent = bar_window(
            {name: values[-window:] for name, values in columns.items()}, anomaly.rules, bars.symbol
        )
        assessment = anomaly.score(newest, recent, request.signal.model_dump(), now)
    except ValueError as exc:
        return _unusable(exc)
    if not (math.isfinite(predicted) and math.isfinite(variance) and variance > 0):
        return InvalidInputError(("body", "bars"), "the models give no finite forecast for these bars")
    return ModelView(
        predicted,
        math.sqrt(variance),
        assessment.score,
        tuple(assessment.reasons),
        features_hash(x, volatility_inputs),
    )


def stale_reasons(bundle: ModelBundle, now: datetime, max_age_days: float) -> list[str]:
    reasons = []
    for info in bundle.info.values():
        age = info.age_days(now)
        if age > max_age_days:
            reasons.append(_stale_reason(info, f"{age:.0f}", max_age_days))
    return reasons


@functools.lru_cache(maxsize=256)
def _stale_reason(info: ModelInfo, age_days: str, max_age_days: float) -> str:
    """Formatted once per model and whole day of age: a stale champion is stale for every request."""
    return (
        f"{ReasonCode.STALE_MODEL}: {info.name} v{info.version} was trained on data up to "
        f"{info.trained_at:%Y-%m-%d}, {age_days} days ago (limit {max_age_days:g})"
    )


def prepare(request: DecisionRequest, bundle: ModelBundle, bars: RequestBars | None = None) -> RequestBars:
    """Validated bars, long enough for ``bundle``; raises InvalidInputError naming the field otherwise."""
    bars = request_bars(request) if bars is None else bars
    need = required_bars(bundle.window)
    if bars.height < need:
        raise InvalidInputError(
            ("body", "bars", "timestamp"),
            f"needs at least {need} bars (predictor window {bundle.window} + feature lookback "
            f"{LOOKBACK_BARS} - 1), got {bars.height}",
        )
    return bars


def decide_with_view(
    request: DecisionRequest,
    bars: RequestBars,
    view: ModelView,
    bundle: ModelBundle,
    latches: RiskLatches,
    config: EngineConfig,
    now: datetime,
    news: NewsInputs = NO_NEWS,
) -> Outcome:
    """The policy's decision for one request, from what the models say (``model_views``)."""
    signal, portfolio = request.signal, request.portfolio
    last_close = float(bars.columns["close"][-1])
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
        sentiment=news.sentiment,
        sentiment_shock=news.sentiment_shock,
        review_scale=news.review_scale,
        review_note=news.review_note,
    )
    decision = latches.decide(context, config.policy)
    reasons = [f"{code}: {text}" for code, text in zip(decision.reason_codes, decision.reasons, strict=True)]
    reasons += [f"ANOMALY: {text}" for text in view.anomaly_reasons]
    reasons += stale_reasons(bundle, now, config.max_model_age_days)
    quantity = decision.target_weight * equity / last_close - position if portfolio else None
    response = DecisionResponse(
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
    return Outcome(response, view.features_hash)
