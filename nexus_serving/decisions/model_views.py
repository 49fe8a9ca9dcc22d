"""What the three champions say about each request's newest bar, with the shared feature code only.

bars -> ``feature_matrix_values`` (the kernel ``features_for_last_rows`` runs) -> predictor;
``input_values`` (the kernel of ``inputs_for_last_bar``) -> volatility model; newest feature
row, ``bar_window`` and signal -> anomaly detector. The kernels are called on NumPy arrays:
wrapping 32 rows in polars frames and back costs more than computing them.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from nexus_assets.ml.anomaly.bar_window import bar_window, epoch_us
from nexus_assets.ml.features import FEATURE_COLUMNS, LOOKBACK_BARS, feature_matrix_values, signal_columns
from nexus_assets.ml.portfolio.policy import SIDES
from nexus_assets.ml.volatility.inputs import INPUT_COLUMNS, VOL_LOOKBACK_BARS, input_values
from nexus_serving.decisions.request_bars import VALUE_COLUMNS, InvalidInputError, RequestBars
from nexus_serving.model_store import ModelBundle
from nexus_serving.schemas import DecisionRequest


@dataclass(frozen=True, slots=True)
class ModelInputs:
    """What the predictor and the volatility model were given for one request, kept (by
    reference, no copy) so a challenger of either can score the same inputs without computing
    the features again (``shadow``)."""

    x: np.ndarray
    """The predictor's window, (1, window, features)."""
    volatility: dict[str, np.ndarray]
    """The volatility model's inputs, one value per column."""
    newest: dict[str, float]
    """The newest bar's features, as the anomaly detector was given them."""


@dataclass(frozen=True)
class ModelView:
    """What the three models say about the newest bar."""

    predicted_return: float
    volatility: float
    anomaly_score: float
    anomaly_reasons: tuple[str, ...]
    features_hash: str
    """Digest of what the predictor and the volatility model were given, for the audit log."""
    inputs: ModelInputs | None = field(default=None, compare=False)
    """Kept for shadow scoring; not part of what a view says, so views compare without it."""


def features_hash(x: np.ndarray, volatility_inputs: np.ndarray) -> str:
    """A stable digest of the model inputs; SHA-256 because it is hardware-accelerated (microseconds)."""
    digest = hashlib.sha256(np.ascontiguousarray(x, dtype=np.float32))
    digest.update(np.ascontiguousarray(volatility_inputs, dtype=np.float64))
    return digest.hexdigest()


def model_views(
    bundle: ModelBundle, items: Sequence[tuple[DecisionRequest, RequestBars]], now: datetime
) -> list[ModelView | InvalidInputError]:
    """Run the three champions on each request's bars (from ``prepare``); one result per item, in order.

    The predictor runs once on every window: a batch of four costs about half of four single
    runs, and ONNX Runtime gives each row bit for bit what it gives that row alone (tested).
    A request whose bars the models cannot use gets its InvalidInputError; the others are unaffected.
    """
    champions = bundle.champions
    features = [_features(champions.window, request, bars) for request, bars in items]
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


def request_signal_columns(request: DecisionRequest, bars: RequestBars) -> dict[str, np.ndarray]:
    """``sig_net`` and ``sig_n`` per request bar from its signal and ``recent_signals`` (the batch rule)."""
    signals = [request.signal, *(request.recent_signals or ())]
    keyed = sorted(
        (epoch_us(s.timestamp, field="signal.timestamp"), s.strategy_id, s.side, s.strength) for s in signals
    )
    times = np.array([k[0] for k in keyed], dtype=np.int64)
    signed = np.array([SIDES[k[2]] * k[3] for k in keyed], dtype=np.float64)
    return signal_columns(bars.columns["timestamp"], times, signed)


def _features(window: int, request: DecisionRequest, bars: RequestBars) -> np.ndarray | InvalidInputError:
    """The predictor's feature window of one request: (features x window)."""
    needed = window + LOOKBACK_BARS - 1
    columns = bars.columns
    signals = {name: values[-needed:] for name, values in request_signal_columns(request, bars).items()}
    try:
        return feature_matrix_values(
            {name: columns[name][-needed:] for name in VALUE_COLUMNS}, window, signals
        )
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
        inputs = input_values({name: columns[name][-VOL_LOOKBACK_BARS:] for name in VALUE_COLUMNS}, 1)
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
        ModelInputs(x, inputs, newest),
    )
