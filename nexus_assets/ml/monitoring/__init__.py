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
    rolling_qlike,
    volatility_skill,
)
from nexus_assets.ml.monitoring.track_record import TRACK_RECORD_SCHEMA, strategy_track_record

__all__ = [
    "PREDICTION_COLUMNS",
    "TRACK_RECORD_SCHEMA",
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
    "rolling_qlike",
    "strategy_track_record",
    "volatility_skill",
]
