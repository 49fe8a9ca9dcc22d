"""Training the anomaly detector: IsolationForest, compact copy, calibration, explanation scales."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from nexus_assets.ml.anomaly.calibration import ScoreCalibration
from nexus_assets.ml.anomaly.forest import CompactIsolationForest
from nexus_assets.ml.anomaly.inputs import feature_matrix, model_inputs
from nexus_assets.ml.anomaly.model import DEFAULT_THRESHOLD, AnomalyDetector
from nexus_assets.ml.anomaly.rule_config import RuleConfig

MIN_TRAINING_ROWS = 200
"""Fewer rows give a forest of near-empty trees and a calibration too coarse to threshold at 0.99."""
_IQR_TO_SIGMA = 1.349


def _check_max_samples(max_samples: int | float | str, n_rows: int) -> int | float | str:
    if max_samples == "auto":
        return max_samples
    if isinstance(max_samples, bool) or not isinstance(max_samples, int | float):
        raise ValueError(f"max_samples: expected 'auto', an int or a float in (0, 1], got {max_samples!r}")
    if isinstance(max_samples, float):
        if not 0.0 < max_samples <= 1.0:
            raise ValueError(f"max_samples: a fraction must be in (0, 1], got {max_samples}")
        return max_samples
    if max_samples < 2:
        raise ValueError(f"max_samples: need at least 2 samples per tree, got {max_samples}")
    return min(max_samples, n_rows)


def _training_info(features: pl.DataFrame, estimator: Any, seed: int) -> dict[str, Any]:
    import sklearn

    info: dict[str, Any] = {
        "n_rows": features.height,
        "n_estimators": int(estimator.n_estimators),
        "max_samples": int(estimator.max_samples_),
        "seed": seed,
        "sklearn_version": sklearn.__version__,
    }
    if "symbol" in features.columns:
        info["n_symbols"] = int(features["symbol"].n_unique())
    if "timestamp" in features.columns:
        info["trained_from"] = str(features["timestamp"].min())
        info["trained_to"] = str(features["timestamp"].max())
    return info


def fit_isolation_forest(
    inputs: np.ndarray, *, n_estimators: int, max_samples: int | float | str, seed: int
) -> Any:
    """The scikit-learn forest behind a detector (``model_inputs`` rows), for comparisons and benchmarks."""
    from sklearn.ensemble import IsolationForest

    return IsolationForest(
        n_estimators=n_estimators,
        max_samples=_check_max_samples(max_samples, inputs.shape[0]),
        random_state=seed,
        n_jobs=1,
    ).fit(inputs)


def fit_anomaly_detector(
    features: pl.DataFrame,
    *,
    n_estimators: int = 300,
    max_samples: int | float | str = 1024,
    seed: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
    rules: RuleConfig | None = None,
) -> AnomalyDetector:
    """Fit on complete feature rows (``compute_features`` output, all symbols pooled).

    Defaults: 300 trees of up to 1024 rows (depth 10). Larger subsamples than scikit-learn's
    256 isolate the moderate anomalies (volume shocks, frozen quotes) markedly better on the
    injected-anomaly evaluation, and one row still scores in tens of microseconds.
    Deterministic for a given ``seed``. Raises ValueError for missing or non-finite feature
    columns, fewer than ``MIN_TRAINING_ROWS`` rows, or invalid parameters.
    """
    matrix = feature_matrix(features)
    if matrix.shape[0] < MIN_TRAINING_ROWS:
        raise ValueError(f"features: {matrix.shape[0]} rows, fitting needs at least {MIN_TRAINING_ROWS}")
    if isinstance(n_estimators, bool) or not isinstance(n_estimators, int) or n_estimators < 1:
        raise ValueError(f"n_estimators: expected a positive int, got {n_estimators!r}")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold: expected a value in (0, 1], got {threshold!r}")
    inputs = model_inputs(matrix)
    estimator = fit_isolation_forest(inputs, n_estimators=n_estimators, max_samples=max_samples, seed=seed)
    forest = CompactIsolationForest.from_sklearn(estimator)
    q25, center, q75 = np.quantile(inputs, [0.25, 0.5, 0.75], axis=0)
    scale = np.maximum((q75 - q25) / _IQR_TO_SIGMA, 1e-12)
    return AnomalyDetector(
        forest=forest,
        calibration=ScoreCalibration.fit(-forest.score_samples(inputs)),
        input_center=center,
        input_scale=scale,
        threshold=float(threshold),
        rules=rules or RuleConfig(),
        info=_training_info(features, estimator, seed),
    )
