"""The fitted anomaly detector: scoring, explanations and plain-file persistence.

Scoring and loading need only numpy and polars, never scikit-learn or pickle, so the serving
process loads a model as two plain files and scores a decision in well under a millisecond.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from nexus_assets.ml.anomaly.bar_window import BarWindow, bar_interval_us, epoch_us, read_bar_window
from nexus_assets.ml.anomaly.calibration import ScoreCalibration
from nexus_assets.ml.anomaly.forest import CompactIsolationForest
from nexus_assets.ml.anomaly.inputs import (
    MODEL_INPUTS,
    REQUIRED_FEATURES,
    feature_matrix,
    feature_row,
    model_input_row,
    model_inputs,
)
from nexus_assets.ml.anomaly.rule_config import RuleConfig, RuleHit
from nexus_assets.ml.anomaly.rules import bar_rules, feature_rule_severity, feature_rules
from nexus_assets.ml.anomaly.signal_rules import MarketContext, signal_rules

MODEL_NAME = "trade-nexus-anomaly"
DEFAULT_THRESHOLD = 0.99
FORMAT_VERSION = 1
MODEL_FILE, ARRAYS_FILE = "anomaly.json", "anomaly_arrays.npz"


@dataclass(frozen=True)
class AnomalyAssessment:
    """One scored market state (and signal): the gate value and why it is what it is."""

    score: float
    model_score: float
    rule_hits: list[str]
    reasons: list[str]
    threshold: float = DEFAULT_THRESHOLD

    @property
    def is_anomalous(self) -> bool:
        return self.score >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "model_score": self.model_score,
            "rule_hits": list(self.rule_hits),
            "reasons": list(self.reasons),
            "threshold": self.threshold,
            "is_anomalous": self.is_anomalous,
        }


def _row_value(features: pl.DataFrame | Mapping[str, Any], name: str) -> Any:
    if isinstance(features, pl.DataFrame):
        column = features.get_column(name, default=None)
        return None if column is None else column.item(0)
    return features.get(name)


@dataclass(frozen=True, eq=False)
class AnomalyDetector:
    """A fitted detector; ``score`` for one decision, ``score_frame`` for batches."""

    forest: CompactIsolationForest
    calibration: ScoreCalibration
    input_center: np.ndarray
    """Training median of each model input, for explanations."""
    input_scale: np.ndarray
    """Training robust spread (IQR / 1.349) of each model input, for explanations."""
    threshold: float = DEFAULT_THRESHOLD
    rules: RuleConfig = field(default_factory=RuleConfig)
    info: dict[str, Any] = field(default_factory=dict)

    def raw_scores(self, features: pl.DataFrame | Mapping[str, float]) -> np.ndarray:
        """Isolation anomaly score of the original paper (``-score_samples``): higher is stranger."""
        return -self.forest.score_samples(model_inputs(feature_matrix(features)))

    def model_scores(self, features: pl.DataFrame | Mapping[str, float]) -> np.ndarray:
        """Calibrated model score per row, in [0, 1]."""
        return self.calibration(self.raw_scores(features))

    def score_frame(self, features: pl.DataFrame) -> pl.Series:
        """Per row: max of the calibrated model score and the feature-level rules (no bar or signal rules).

        The batch twin of ``score`` for backtests: the rules that need a bar window, a clock or
        a signal are left to ``score``.
        """
        matrix = feature_matrix(features)
        model = self.calibration(-self.forest.score_samples(model_inputs(matrix)))
        return pl.Series("anomaly_score", np.maximum(model, feature_rule_severity(matrix, self.rules)))

    def score(
        self,
        features_row: pl.DataFrame | Mapping[str, Any],
        bars_window: pl.DataFrame | BarWindow | None = None,
        signal: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> AnomalyAssessment:
        """Assess the newest bar of one symbol, optionally with its bar window, a signal and the clock.

        ``features_row``: one row holding ``REQUIRED_FEATURES`` (``features_for_last_bar``
        output, or a mapping). ``bars_window``: that symbol's recent bars, oldest first (a table,
        or a ``bar_window`` of NumPy columns).
        ``now`` enables the staleness and future-time rules. Raises ValueError on a missing or
        non-finite feature, more than one row, or a bar window without its columns.

        One row on Python floats (``feature_row``, ``model_input_row``, ``ScoreCalibration.one``):
        the same arithmetic as ``score_frame``'s arrays, at a fraction of the per-call overhead.
        """
        if isinstance(features_row, pl.DataFrame):
            matrix = feature_matrix(features_row)
            if matrix.shape[0] != 1:
                raise ValueError(
                    f"features_row: expected one row, got {matrix.shape[0]}; use score_frame for batches"
                )
            values = matrix[0]
            row = values.tolist()
        else:
            row = feature_row(features_row)
            values = np.array(row)
        inputs = model_input_row(row)
        model_score = self.calibration.one(-self.forest.score_one(inputs))
        hits = feature_rules(values, self.rules)
        window = None
        if bars_window is not None:
            window = (
                bars_window
                if isinstance(bars_window, BarWindow)
                else read_bar_window(bars_window, self.rules)
            )
            hits += bar_rules(window, now=now, config=self.rules)
        if signal is not None:
            hits += signal_rules(signal, self._context(features_row, window, values, now), self.rules)
        return self._assess(model_score, inputs, hits)

    def _context(
        self,
        features_row: pl.DataFrame | Mapping[str, Any],
        window: BarWindow | None,
        values: np.ndarray,
        now: datetime | None,
    ) -> MarketContext:
        symbol = _row_value(features_row, "symbol")
        if window is not None:
            return MarketContext(
                symbol=window.symbol if window.symbol is not None else symbol,
                newest_bar_us=window.newest_us,
                interval_us=window.interval_us,
                now=now,
                row=values,
            )
        stamp = _row_value(features_row, "timestamp")
        return MarketContext(
            symbol=symbol,
            newest_bar_us=None if stamp is None else epoch_us(stamp, field="features.timestamp"),
            interval_us=bar_interval_us(None, self.rules),
            now=now,
            row=values,
        )

    def _assess(self, model_score: float, inputs: np.ndarray, hits: list[RuleHit]) -> AnomalyAssessment:
        reasons = []
        if model_score >= self.threshold:
            reasons.append(self._explain(model_score, inputs))
        reasons += [hit.reason for hit in hits]
        score = max([model_score, *(hit.severity for hit in hits)])
        return AnomalyAssessment(
            score=float(min(max(score, 0.0), 1.0)),
            model_score=model_score,
            rule_hits=[hit.code for hit in hits],
            reasons=reasons,
            threshold=self.threshold,
        )

    def _explain(self, model_score: float, inputs: np.ndarray) -> str:
        deviation = (inputs - self.input_center) / self.input_scale
        top = int(np.argmax(np.abs(deviation)))
        return (
            f"market state is more unusual than {model_score:.1%} of training history; most unusual: "
            f"{MODEL_INPUTS[top]} = {inputs[top]:.3g} (typical {self.input_center[top]:.3g} "
            f"+/- {self.input_scale[top]:.3g})"
        )

    def save(self, directory: str | Path) -> Path:
        """Write ``anomaly.json`` (settings, metadata) and ``anomaly_arrays.npz`` (forest, calibration)."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        arrays = {
            **self.forest.to_arrays(),
            **self.calibration.to_arrays(),
            "input_center": self.input_center,
            "input_scale": self.input_scale,
        }
        np.savez_compressed(path / ARRAYS_FILE, **arrays)
        meta = {
            "model": MODEL_NAME,
            "format_version": FORMAT_VERSION,
            "model_inputs": list(MODEL_INPUTS),
            "required_features": list(REQUIRED_FEATURES),
            "threshold": self.threshold,
            "rules": self.rules.to_dict(),
            "info": self.info,
        }
        (path / MODEL_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
        return path

    @classmethod
    def load(cls, directory: str | Path) -> AnomalyDetector:
        """Read a ``save``d detector; refuses another format version or another input definition."""
        path = Path(directory)
        if not (path / MODEL_FILE).is_file() or not (path / ARRAYS_FILE).is_file():
            raise ValueError(f"{path}: not a saved anomaly detector (needs {MODEL_FILE} and {ARRAYS_FILE})")
        meta = json.loads((path / MODEL_FILE).read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{path}: format_version {meta.get('format_version')!r}, expected {FORMAT_VERSION}"
            )
        if meta.get("model_inputs") != list(MODEL_INPUTS):
            raise ValueError(
                f"{path}: saved with model inputs {meta.get('model_inputs')}, this code uses {list(MODEL_INPUTS)}"
            )
        with np.load(path / ARRAYS_FILE, allow_pickle=False) as arrays:
            return cls(
                forest=CompactIsolationForest.from_arrays(arrays),
                calibration=ScoreCalibration.from_arrays(arrays),
                input_center=np.asarray(arrays["input_center"], dtype=np.float64),
                input_scale=np.asarray(arrays["input_scale"], dtype=np.float64),
                threshold=float(meta["threshold"]),
                rules=RuleConfig.from_dict(meta["rules"]),
                info=dict(meta.get("info", {})),
            )
