"""The anomaly detector (model ``trade-nexus-anomaly``): a learned score plus explicit rules.

Its score gates trading: the decision policy halts when it is high. The score of one
assessment is ``max(model_score, highest severity of the rules that fired)``:

* ``model_score`` is an IsolationForest over scale-free transforms of a few features
  (``inputs``), calibrated to the empirical CDF of the training rows (``calibration``): 0.99
  means more unusual than 99% of training history.
* rules (``rules`` on the bar window and feature row, ``signal_rules`` on the signal) fire with
  severity 1.0 (data cannot be trusted) or 0.99 (a warning that meets the default threshold),
  each with a reason code.

Taking the maximum keeps every alarm explainable: a high score is either a named rule or the
model, and ``reasons`` says which. Fitting and evaluation import scikit-learn when called;
loading and scoring never do (the forest is stored as flat arrays, ``forest``).
"""

import lazy_loader

PUBLIC = {
    "evaluation": ["BASELINE_THRESHOLD", "baseline_scores", "evaluate_anomaly_detector"],
    "fit": ["MIN_TRAINING_ROWS", "fit_anomaly_detector"],
    "forest": ["CompactIsolationForest"],
    "inputs": ["MODEL_INPUTS", "REQUIRED_FEATURES"],
    "model": ["DEFAULT_THRESHOLD", "MODEL_NAME", "AnomalyAssessment", "AnomalyDetector"],
    "rule_config": ["CRITICAL", "WARNING", "RuleConfig", "RuleHit"],
    "bar_window": ["BarWindow", "bar_window", "read_bar_window"],
}
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs=PUBLIC)
