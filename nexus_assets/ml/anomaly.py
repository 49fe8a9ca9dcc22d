"""The anomaly detector (model ``trade-nexus-anomaly``): a learned score plus explicit rules.

Its score gates trading: the decision policy halts when it is high. The score of one
assessment is ``max(model_score, highest severity of the rules that fired)``:

* ``model_score`` is an IsolationForest over scale-free transforms of a few features
  (``anomaly_inputs``), calibrated to the empirical CDF of the training rows
  (``anomaly_calibration``): 0.99 means more unusual than 99% of training history.
* rules (``anomaly_rules``, ``anomaly_signal_rules``) fire with severity 1.0 (data cannot be
  trusted) or 0.99 (a warning that meets the default threshold), each with a reason code.

Taking the maximum keeps every alarm explainable: a high score is either a named rule or the
model, and ``reasons`` says which. This module is the public entry point; the parts live in
the ``anomaly_*`` modules next to it. Fitting and evaluation import scikit-learn when called;
loading and scoring never do (the forest is stored as flat arrays, ``anomaly_forest``).
"""

from __future__ import annotations

from nexus_assets.ml.anomaly_eval import BASELINE_THRESHOLD, baseline_scores, evaluate_anomaly_detector
from nexus_assets.ml.anomaly_fit import MIN_TRAINING_ROWS, fit_anomaly_detector
from nexus_assets.ml.anomaly_forest import CompactIsolationForest
from nexus_assets.ml.anomaly_inputs import MODEL_INPUTS, REQUIRED_FEATURES
from nexus_assets.ml.anomaly_model import (
    DEFAULT_THRESHOLD,
    MODEL_NAME,
    AnomalyAssessment,
    AnomalyDetector,
)
from nexus_assets.ml.anomaly_rules import CRITICAL, WARNING, RuleConfig, RuleHit

__all__ = [
    "BASELINE_THRESHOLD",
    "CRITICAL",
    "DEFAULT_THRESHOLD",
    "MIN_TRAINING_ROWS",
    "MODEL_INPUTS",
    "MODEL_NAME",
    "REQUIRED_FEATURES",
    "WARNING",
    "AnomalyAssessment",
    "AnomalyDetector",
    "CompactIsolationForest",
    "RuleConfig",
    "RuleHit",
    "baseline_scores",
    "evaluate_anomaly_detector",
    "fit_anomaly_detector",
]
