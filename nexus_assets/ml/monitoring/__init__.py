"""Watching the models live: predictions joined with what followed, skill against naive baselines
on the same rows, and feature drift against the training window."""

from nexus_assets.ml.monitoring.drift import FeatureDrift, feature_drift, psi
from nexus_assets.ml.monitoring.outcomes import PREDICTION_COLUMNS, bar_outcomes, join_outcomes
from nexus_assets.ml.monitoring.skill import (
    Calibration,
    PredictorSkill,
    VolatilitySkill,
    calibration,
    predictor_skill,
    rolling_ic,
    volatility_skill,
)

__all__ = [
    "PREDICTION_COLUMNS",
    "Calibration",
    "FeatureDrift",
    "PredictorSkill",
    "VolatilitySkill",
    "bar_outcomes",
    "calibration",
    "feature_drift",
    "join_outcomes",
    "predictor_skill",
    "psi",
    "rolling_ic",
    "volatility_skill",
]
